"""The Anthropic door: `/claude/v1/messages` and `/claude/v1/messages/count_tokens`, also under `/v1/…`.

The key comes from `x-api-key`, else `Authorization: Bearer` (what the anthropic SDK 2.x sends). The
caller's `anthropic-beta` goes upstream with the call when an Anthropic channel serves it; the channel
decides `anthropic-version` itself.
"""

from __future__ import annotations

from aiohttp import web

from gateway.call import Endpoint
from gateway.protocols import Protocol
from gateway.protocols import anthropic as wire
from gateway.web.doors import accept_call, serve

DOOR = Protocol.ANTHROPIC
PASSED_ON = ("anthropic-beta",)  # caller headers that carry meaning to an Anthropic upstream


def passthrough_headers(request: web.Request) -> dict[str, str]:
    """The caller's headers an Anthropic channel must see; repeated headers are joined with commas."""
    found: dict[str, str] = {}
    for name in PASSED_ON:
        values = [v.strip() for v in request.headers.getall(name, []) if v.strip()]
        if values:
            found[name] = ",".join(values)
    return found


async def messages(request: web.Request) -> web.StreamResponse:
    return await _call(request, Endpoint.CHAT)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    return await _call(request, Endpoint.COUNT_TOKENS)


async def _call(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    call = await accept_call(request, DOOR, endpoint, lambda body: wire.request_facts(endpoint.value, body))
    call.passthrough_headers = passthrough_headers(request)
    return await serve(request, call)


def routes() -> list[web.RouteDef]:
    return [
        web.post(prefix + path, handler)
        for prefix in ("/claude/v1", "/v1")
        for path, handler in (("/messages", messages), ("/messages/count_tokens", count_tokens))
    ]
