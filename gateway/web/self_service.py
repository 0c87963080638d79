"""Self-service with a token's own key: GET /api/token/self and /api/token/self/logs, and OpenAI's
legacy billing endpoints (`/v1/dashboard/billing/subscription` and `/usage`, also without `/v1`) in the
shapes chat front ends read.

Only the calling token's own balance and statistics are ever read here: every query names the token.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway import daily_report
from gateway.config.models import Token
from gateway.ledger.base import LedgerUnavailable, StatsQuery, TokenBalance
from gateway.ledger.schema import LOG_COLUMNS
from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.runtime import Runtime
from gateway.web.admin import answer_logs, log_query, stats_zone
from gateway.web.auth import authenticate
from gateway.web.keys import RUNTIME
from gateway.web.stats_api import day_range, read_stats

# What an unlimited token reports as its limit: front ends expect a number and compute a balance from it.
UNLIMITED_USD = 100_000_000.0
# The log columns a token holder sees: all but the caller address (their own, but not the gateway's to echo).
SELF_LOG_COLUMNS = tuple(column for column in LOG_COLUMNS if column != "client_ip")


def caller_token(request: web.Request) -> Token:
    """The token whose key came with the request, in whichever header its SDK uses (Bearer,
    x-api-key, x-goog-api-key or ?key=), checked like any call (enabled, unexpired, address)."""
    headers = request.headers
    if "x-api-key" in headers:
        door = Protocol.ANTHROPIC
    elif "x-goog-api-key" in headers or "key" in request.query:
        door = Protocol.GEMINI
    else:
        door = Protocol.OPENAI
    return authenticate(request, request.app[RUNTIME].config, door).token


async def _balance(rt: Runtime, token: Token) -> TokenBalance:
    try:
        return await rt.ledger.balance(token.name)
    except LedgerUnavailable:
        raise GatewayError("unavailable", "The ledger cannot be read right now; try again.") from None


def _usd(quota: int | None, rate: int) -> float | None:
    return None if quota is None else daily_report.usd(quota, rate)


async def token_self(request: web.Request) -> web.Response:
    """The caller's grant, use, holds and what remains, its limits, and its own usage by day from
    `since` to `until` (as in /api/stats; `by=model` splits each day by model)."""
    token = caller_token(request)
    rt = request.app[RUNTIME]
    params = request.query
    by = params.get("by") or None
    if by not in (None, "model"):
        raise GatewayError("invalid_request", "`by` may only be model here", param="by")
    zone = stats_zone(rt)
    since, until = day_range(rt, params, zone)
    balance = await _balance(rt, token)
    stats = await read_stats(rt, StatsQuery(since=since, until=until, by=by, token=token.name))
    rate = rt.config.billing.quota_per_usd
    grant = token.grant
    remaining = None if grant is None else grant - balance.used - balance.held
    return web.json_response({
        "object": "token", "name": token.name, "group": token.group, "unlimited": grant is None,
        "grant": grant, "used": balance.used, "held": balance.held, "remaining": remaining,
        "requests": balance.requests,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "models": list(token.models) if token.models is not None else None,
        "limits": {"rpm": token.rpm, "tpm": token.tpm, "max_concurrent": token.max_concurrent},
        "quota_per_usd": rate,
        "usd": {"grant": _usd(grant, rate), "used": _usd(balance.used, rate),
                "held": _usd(balance.held, rate), "remaining": _usd(remaining, rate)},
        "timezone": zone.key, "since": since, "until": until, "by": by,
        "usage": [daily_report.stat_record(stat, by, rate) for stat in stats],
        "usage_total": daily_report.stat_record(daily_report.total(stats), None, rate, day=False),
    })


async def token_self_logs(request: web.Request) -> web.StreamResponse:
    """The caller's own log rows, with /api/logs' filters, cursor and `format=csv`, minus client_ip.
    `token` may only name the caller: another token's name answers 403 rather than an empty page."""
    token = caller_token(request)
    rt = request.app[RUNTIME]
    named = request.query.get("token")
    if named and named != token.name:
        raise GatewayError("permission", "A token's key reads only its own logs.", param="token")
    query = replace(log_query(request.query, stats_zone(rt), rt.clock()), token=token.name)
    return await answer_logs(request, query, SELF_LOG_COLUMNS)


async def billing_subscription(request: web.Request) -> web.Response:
    """OpenAI's legacy subscription: the grant as every limit, in USD; an unlimited token reports
    UNLIMITED_USD; access_until is the expiry in unix seconds (0: none)."""
    token = caller_token(request)
    rate = request.app[RUNTIME].config.billing.quota_per_usd
    limit = UNLIMITED_USD if token.grant is None else daily_report.usd(token.grant, rate)
    return web.json_response({
        "object": "billing_subscription",
        # Prepaid grants have no card, but clients read false as a free-trial account.
        "has_payment_method": True,
        "canceled": False, "canceled_at": None, "delinquent": None,
        "access_until": int(token.expires_at.timestamp()) if token.expires_at else 0,
        "soft_limit_usd": limit, "hard_limit_usd": limit, "system_hard_limit_usd": limit,
        "plan": {"title": "Gateway token", "id": "gateway-token"},
        "account_name": token.name,
        "po_number": None, "billing_email": None, "tax_ids": None, "billing_address": None,
        "business_address": None,
    })


def _billing_dates(params: Any, zone: ZoneInfo, now: float) -> tuple[date, date]:
    """[start_date, end_date) as the front end sent them; by default this month to tomorrow, which is
    what NextChat asks for."""
    today = datetime.fromtimestamp(now, zone).date()
    try:
        start = date.fromisoformat(params["start_date"]) if params.get("start_date") else today.replace(day=1)
        end = date.fromisoformat(params["end_date"]) if params.get("end_date") else today + timedelta(days=1)
    except ValueError:
        raise GatewayError("invalid_request", "start_date and end_date must be dates as YYYY-MM-DD") from None
    if end <= start:
        raise GatewayError("invalid_request", "end_date must be after start_date", param="end_date")
    return start, end


async def billing_usage(request: web.Request) -> web.Response:
    """OpenAI's legacy usage. `total_usage` (US cents) is everything the token has been charged since
    it started, so that hard_limit_usd − total_usage/100 is its balance in every front end (a grant is
    not monthly); `daily_costs` lists the days from start_date up to end_date (exclusive), each with
    one line item per model, in cents."""
    token = caller_token(request)
    rt = request.app[RUNTIME]
    zone = stats_zone(rt)
    start, end = _billing_dates(request.query, zone, rt.clock())
    balance = await _balance(rt, token)
    last = end - timedelta(days=1)
    stats = await read_stats(rt, StatsQuery(since=start.isoformat(), until=last.isoformat(), by="model",
                                            token=token.name))
    rate = rt.config.billing.quota_per_usd
    days: dict[str, list[dict[str, Any]]] = {}
    for stat in stats:
        days.setdefault(stat.day, []).append({"name": stat.key, "cost": _cents(stat.quota, rate)})
    return web.json_response({
        "object": "list",
        "daily_costs": [{"timestamp": daily_report.midnight(date.fromisoformat(day), zone),
                         "line_items": items} for day, items in days.items()],
        "total_usage": _cents(balance.used, rate),
    })


def _cents(quota: int, rate: int) -> float:
    return round(quota * 100 / rate, 4)


def routes() -> list[web.RouteDef]:
    billing = [(web.get(f"{prefix}/dashboard/billing/subscription", billing_subscription),
                web.get(f"{prefix}/dashboard/billing/usage", billing_usage)) for prefix in ("/v1", "")]
    return [web.get("/api/token/self", token_self), web.get("/api/token/self/logs", token_self_logs),
            *(route for pair in billing for route in pair)]

