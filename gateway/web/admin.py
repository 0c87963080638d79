"""Operator endpoints: health probes, and the admin-key-guarded /api/tokens and /api/logs (JSON or CSV)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.ledger.base import LedgerUnavailable, LogQuery
from gateway.ledger.schema import LOG_COLUMNS
from gateway.protocols.errors import GatewayError
from gateway.reports import parse_when
from gateway.runtime import Runtime
from gateway.web import logs_csv
from gateway.web.auth import constant_time_equal
from gateway.web.keys import RUNTIME


def require_admin(request: web.Request) -> None:
    config = request.app[RUNTIME].config
    admin_key = config.server.admin_key
    if admin_key is None:
        raise GatewayError("permission", "The operator API is off: set server.admin_key to enable it.")
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header[:7].lower() == "bearer " else None
    if not constant_time_equal(presented, admin_key.get_secret_value()):
        raise GatewayError("invalid_api_key", "The operator API needs the admin key as a bearer token.")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        await rt.ledger.balance("")
    except Exception:  # any ledger failure means not ready, whatever its kind
        return web.json_response({"status": "ledger unavailable"}, status=503)
    return web.json_response({"status": "ready"})


async def tokens(request: web.Request) -> web.Response:
    require_admin(request)
    rt = request.app[RUNTIME]
    balances = await rt.ledger.balances()
    data = []
    for token in rt.config.tokens:
        balance = balances.get(token.name)
        used = balance.used if balance else 0
        held = balance.held if balance else 0
        grant = token.grant
        data.append({
            "name": token.name, "group": token.group, "enabled": token.enabled,
            "unlimited": grant is None, "grant": grant, "used": used, "held": held,
            "remaining": None if grant is None else grant - used - held,
            "requests": balance.requests if balance else 0,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        })
    return web.json_response({"data": data})


def stats_zone(rt: Runtime) -> ZoneInfo:
    """The zone whose days the ledger's statistics are kept in (the configured one until it says);
    naive times in queries are read in it too."""
    return ZoneInfo(rt.ledger.stats_timezone or rt.config.server.timezone)


def _moment(value: str | None, name: str, zone: ZoneInfo, now: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        return parse_when(value, zone, now)
    except (ValueError, OverflowError):
        raise GatewayError("invalid_request", f"`{name}` must be unix seconds, an ISO 8601 date or "
                                              "date-time, or an age such as 2h or 7d", param=name) from None


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise GatewayError("invalid_request", f"`{name}` must be an integer") from None


def log_query(params: Any, zone: ZoneInfo, now: float) -> LogQuery:
    limit = _int(params.get("limit"), "limit") or 100
    return LogQuery(token=params.get("token") or None, model=params.get("model") or None,
                    channel=params.get("channel") or None, outcome=params.get("outcome") or None,
                    status=_int(params.get("status"), "status"),
                    since=_moment(params.get("since"), "since", zone, now),
                    until=_moment(params.get("until"), "until", zone, now),
                    before_id=_int(params.get("cursor"), "cursor"), limit=max(1, min(limit, 1000)))


async def logs(request: web.Request) -> web.StreamResponse:
    """A page of rows, newest first (`next_cursor` opens the next), or with `format=csv` every
    matching row (at most `limit` when given) as one CSV download."""
    require_admin(request)
    rt = request.app[RUNTIME]
    return await answer_logs(request, log_query(request.query, stats_zone(rt), rt.clock()))


async def answer_logs(request: web.Request, query: LogQuery,
                      columns: tuple[str, ...] = LOG_COLUMNS) -> web.StreamResponse:
    """The rows of `query` as a JSON page or (`format=csv`) a CSV download, each row with the id and
    `columns` only."""
    rt = request.app[RUNTIME]
    params = request.query
    form = params.get("format") or "json"
    if form not in ("json", "csv"):
        raise GatewayError("invalid_request", "`format` must be json or csv", param="format")
    try:
        if form == "csv":
            limit = _int(params.get("limit"), "limit")
            return await logs_csv.export(request, rt.ledger, query, None if limit is None else max(1, limit),
                                         columns)
        page = await rt.ledger.logs(query)
    except LedgerUnavailable:
        raise GatewayError("unavailable", "The ledger cannot be read right now; try again.") from None
    rows = [{"id": row_id, **{name: getattr(row, name) for name in columns}} for row_id, row in page.rows]
    return web.json_response({"data": rows, "next_cursor": page.next_cursor})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/api/tokens", tokens),
        web.get("/api/logs", logs),
    ]
