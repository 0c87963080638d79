"""`GET /api/channels`: what routing knows about each channel right now, for operators (never a key)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.config.models import Channel
from gateway.web.admin import require_admin
from gateway.web.keys import RUNTIME


def _config_facts(channel: Channel) -> dict[str, Any]:
    # base_url and proxy stay out: either may carry credentials (a key in a query, a proxy password).
    return {"models": list(channel.models), "model_map": dict(channel.model_map),
            "groups": list(channel.groups), "multiplier": channel.multiplier,
            "timeouts": channel.timeouts.model_dump(), "proxied": channel.proxy is not None}


async def channels(request: web.Request) -> web.Response:
    require_admin(request)
    rt = request.app[RUNTIME]
    config = rt.config
    now = rt.clock()
    snapshot = rt.channels.snapshot(config.channels, now)
    by_name = {channel.name: channel for channel in config.channels}
    data = [{**state, **_config_facts(by_name[state["name"]])} for state in snapshot["channels"]]
    return web.json_response({"data": data, "routing": config.routing.model_dump()})


def routes() -> list[web.RouteDef]:
    return [web.get("/api/channels", channels)]
