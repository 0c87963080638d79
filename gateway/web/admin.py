"""Operator endpoints: health probes, and the admin-key-guarded /api/tokens and /api/logs."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from gateway.ledger.base import LogQuery
from gateway.protocols.errors import GatewayError
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


def _float(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise GatewayError("invalid_request", f"`{name}` must be a number (unix seconds)") from None


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise GatewayError("invalid_request", f"`{name}` must be an integer") from None


def log_query(params: Any) -> LogQuery:
    limit = _int(params.get("limit"), "limit") or 100
    return LogQuery(token=params.get("token") or None, model=params.get("model") or None,
                    channel=params.get("channel") or None, outcome=params.get("outcome") or None,
                    status=_int(params.get("status"), "status"),
                    since=_float(params.get("since"), "since"), until=_float(params.get("until"), "until"),
                    before_id=_int(params.get("cursor"), "cursor"), limit=max(1, min(limit, 1000)))


async def logs(request: web.Request) -> web.Response:
    require_admin(request)
    page = await request.app[RUNTIME].ledger.logs(log_query(request.query))
    rows = [{"id": row_id, **dataclasses.asdict(row)} for row_id, row in page.rows]
    return web.json_response({"data": rows, "next_cursor": page.next_cursor})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/api/tokens", tokens),
        web.get("/api/logs", logs),
    ]
