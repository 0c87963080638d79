"""Operator statistics and configuration, admin key only: /api/stats, /api/stats/rebuild, /api/config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway import daily_report
from gateway.config.redact import redacted
from gateway.ledger.base import STAT_SPLITS, DailyStat, LedgerUnavailable, StatsQuery
from gateway.protocols.errors import GatewayError
from gateway.runtime import Runtime
from gateway.web.admin import require_admin, stats_zone
from gateway.web.keys import RUNTIME


def day_range(rt: Runtime, params: Mapping[str, str], zone: ZoneInfo) -> tuple[str, str]:
    try:
        return daily_report.day_range(params.get("since") or None, params.get("until") or None, zone,
                                      rt.clock())
    except ValueError as exc:
        raise GatewayError("invalid_request", str(exc)) from None


def split_of(params: Mapping[str, str]) -> str | None:
    by = params.get("by") or None
    if by is not None and by not in STAT_SPLITS:
        raise GatewayError("invalid_request", f"`by` must be one of {', '.join(STAT_SPLITS)}", param="by")
    return by


async def read_stats(rt: Runtime, query: StatsQuery) -> list[DailyStat]:
    try:
        return await rt.ledger.daily_stats(query)
    except LedgerUnavailable:
        raise GatewayError("unavailable", "The ledger cannot be read right now; try again.") from None


def stats_body(rt: Runtime, zone: ZoneInfo, since: str, until: str, by: str | None,
               stats: list[DailyStat]) -> dict[str, Any]:
    rate = rt.config.billing.quota_per_usd
    return {"timezone": zone.key, "since": since, "until": until, "by": by, "quota_per_usd": rate,
            "data": [daily_report.stat_record(stat, by, rate) for stat in stats],
            "total": daily_report.stat_record(daily_report.total(stats), None, rate, day=False)}


async def stats(request: web.Request) -> web.Response:
    """Days from `since` to `until` (both inclusive; YYYY-MM-DD or unix seconds), optionally split
    `by` token, model or channel and filtered to one token, model or channel."""
    require_admin(request)
    rt = request.app[RUNTIME]
    params = request.query
    zone = stats_zone(rt)
    since, until = day_range(rt, params, zone)
    by = split_of(params)
    query = StatsQuery(since=since, until=until, by=by, token=params.get("token") or None,
                       model=params.get("model") or None, channel=params.get("channel") or None)
    return web.json_response(stats_body(rt, zone, since, until, by, await read_stats(rt, query)))


async def rebuild(request: web.Request) -> web.Response:
    """Recompute the daily statistics from the log rows, queued behind the calls being written."""
    require_admin(request)
    rt = request.app[RUNTIME]
    try:
        counted = await rt.ledger.rebuild_stats()
    except LedgerUnavailable:
        raise GatewayError("unavailable", "The ledger cannot be written right now; try again.") from None
    return web.json_response({"rebuilt": True, "log_rows": counted, "timezone": stats_zone(rt).key})


async def config(request: web.Request) -> web.Response:
    """The running configuration with every key, key hash, header value and proxy password masked."""
    require_admin(request)
    return web.json_response(redacted(request.app[RUNTIME].config))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/stats", stats),
        web.post("/api/stats/rebuild", rebuild),
        web.get("/api/config", config),
    ]
