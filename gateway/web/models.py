"""Model lists for every door: `GET …/models[/{id}]` in the OpenAI, Anthropic or Gemini shape.

`/v1/models` is shared by three SDKs. The middleware's door detection decides whose shape answers:
Anthropic's when the caller sends `anthropic-version` (the anthropic SDK with a bare base URL),
Gemini's when it authenticates Gemini-style (`x-goog-api-key` or `?key=`, google-genai with a bare base
URL), OpenAI's otherwise. Prefixed paths (`/claude/…`, `/gemini/…`, `/v1beta/…`) speak their own.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.web import catalog
from gateway.web.doors import caller, runtime
from gateway.web.gemini_door import GEMINI_VERSION, valid_model_segment
from gateway.web.keys import DOOR
from gateway.web.middleware import door_for

ANTHROPIC_PAGE, ANTHROPIC_MAX_PAGE = 20, 1000  # Anthropic's documented default and maximum `limit`
GEMINI_PAGE, GEMINI_MAX_PAGE = 50, 1000  # Gemini's documented default and maximum `pageSize`


def _door(request: web.Request) -> Protocol:
    return request.get(DOOR) or door_for(request)


def _names(request: web.Request, door: Protocol) -> list[str]:
    who = caller(request, door)
    return catalog.model_names(runtime(request).config, who.token)


async def list_models(request: web.Request) -> web.Response:
    door = _door(request)
    names = _names(request, door)
    if door is Protocol.ANTHROPIC:
        return web.json_response(anthropic_page(names, request.query))
    if door is Protocol.GEMINI:
        return web.json_response(gemini_page(names, request.query))
    return web.json_response({"object": "list", "data": [catalog.openai_model(n) for n in names]})


async def get_model(request: web.Request) -> web.Response:
    door = _door(request)
    model = request.match_info["model"]
    if door is Protocol.GEMINI:
        model = valid_model_segment(model.removeprefix("models/"))
    if model not in _names(request, door):
        raise GatewayError("model_not_found", f"The model '{model}' does not exist or you do not have "
                                              "access to it.")
    if door is Protocol.ANTHROPIC:
        return web.json_response(catalog.anthropic_model(model))
    if door is Protocol.GEMINI:
        return web.json_response(catalog.gemini_model(model))
    return web.json_response(catalog.openai_model(model))


def _count(query: Any, name: str, default: int, maximum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise GatewayError("invalid_request", f"`{name}` must be an integer", param=name) from None
    if value < 1:
        raise GatewayError("invalid_request", f"`{name}` must be at least 1", param=name)
    return min(value, maximum)


def anthropic_page(names: list[str], query: Any) -> dict[str, Any]:
    """Anthropic's list page: `limit`, and the `after_id` / `before_id` cursors the SDK pages with."""
    limit = _count(query, "limit", ANTHROPIC_PAGE, ANTHROPIC_MAX_PAGE)
    after, before = query.get("after_id"), query.get("before_id")
    if before:
        end = names.index(before) if before in names else len(names)
        page = names[max(0, end - limit):end]
        more = end - limit > 0
    else:
        start = names.index(after) + 1 if after in names else 0
        page = names[start:start + limit]
        more = start + limit < len(names)
    return {"data": [catalog.anthropic_model(n) for n in page], "has_more": more,
            "first_id": page[0] if page else None, "last_id": page[-1] if page else None}


def gemini_page(names: list[str], query: Any) -> dict[str, Any]:
    """Gemini's list page: `pageSize`, and a `pageToken` that is the offset of the next page."""
    size = _count(query, "pageSize", GEMINI_PAGE, GEMINI_MAX_PAGE)
    token = query.get("pageToken") or "0"
    if not token.isdigit():
        raise GatewayError("invalid_request", "`pageToken` is not one this server issued", param="pageToken")
    start = int(token)
    reply: dict[str, Any] = {"models": [catalog.gemini_model(n) for n in names[start:start + size]]}
    if start + size < len(names):
        reply["nextPageToken"] = str(start + size)
    return reply


def routes() -> list[web.RouteDef]:
    gemini = f"/gemini/{{version:{GEMINI_VERSION}}}/models"
    bare_gemini = "/{version:v1beta|v1alpha}/models"
    return [
        web.get("/v1/models", list_models),
        web.get("/v1/models/{model}", get_model),
        web.get("/claude/v1/models", list_models),
        web.get("/claude/v1/models/{model}", get_model),
        web.get(gemini, list_models),
        web.get(gemini + "/{model}", get_model),
        web.get(bare_gemini, list_models),
        web.get(bare_gemini + "/{model}", get_model),
    ]
