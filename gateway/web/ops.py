"""Operator actions on the running process: `POST /api/reload` (admin key)."""

from __future__ import annotations

from aiohttp import web

from gateway.web.admin import require_admin
from gateway.web.keys import RUNTIME


async def reload(request: web.Request) -> web.Response:
    """Re-read the configuration file: 200 with what changed, or 422 with every problem (the running
    configuration is kept), or 409 when the process was not started from a file."""
    require_admin(request)
    reloader = request.app[RUNTIME].reloader
    if reloader is None:
        return web.json_response({"ok": False, "problems": [
            "this gateway was not started from a configuration file; nothing to reload"]}, status=409)
    result = await reloader.reload("api")
    return web.json_response(result.as_dict(), status=200 if result.ok else 422)


def routes() -> list[web.RouteDef]:
    return [web.post("/api/reload", reload)]
