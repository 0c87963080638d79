"""The Gemini door: `POST /gemini/{version}/models/{model}:{method}`, and the same without `/gemini`.

google-genai 3.x with a bare base URL calls `/v1/models/{model}:generateContent`; aiohttp routes that POST
here while `GET /v1/models/{id}` stays with the shared model lists (gateway/web/models.py).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.call import Endpoint
from gateway.protocols import Protocol
from gateway.protocols import gemini as wire
from gateway.protocols.errors import GatewayError
from gateway.protocols.facts import RequestFacts
from gateway.web.doors import accept_call, serve

DOOR = Protocol.GEMINI
GEMINI_VERSION = r"v\d+(?:alpha|beta)?\d*"  # v1, v1beta, v1alpha, and whatever Google numbers next
# What a model name may hold before it goes into an upstream URL: no slash, no dot-dot, no percent sign
# (a second encoding layer), no control or other special characters.
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")

METHODS: dict[str, Endpoint] = {
    "generateContent": Endpoint.CHAT,
    "streamGenerateContent": Endpoint.CHAT,
    "countTokens": Endpoint.COUNT_TOKENS,
    "embedContent": Endpoint.EMBEDDINGS,
    "batchEmbedContents": Endpoint.EMBEDDINGS,
}


def valid_model_segment(model: str) -> str:
    """`model` if it is safe to name in an upstream URL, else a 400 (path tricks never reach a URL)."""
    if not _MODEL.fullmatch(model) or ".." in model:
        shown = model.encode("unicode_escape").decode()[:80]
        raise GatewayError("invalid_request", f"The model name in the URL is not valid: {shown!r}.",
                           param="model")
    return model


async def call_method(request: web.Request) -> web.StreamResponse:
    model, colon, method = request.match_info["target"].rpartition(":")
    endpoint = METHODS.get(method) if colon else None
    if endpoint is None:
        raise GatewayError("not_found", f"Unknown request URL: {request.method} {request.path}.")
    stream = method == "streamGenerateContent"

    def read_facts(body: dict[str, Any]) -> RequestFacts:
        return wire.request_facts(endpoint.value, body, model=valid_model_segment(model), stream=stream)

    call = await accept_call(request, DOOR, endpoint, read_facts, url_model=model)
    call.gemini_version = request.match_info["version"]
    call.gemini_method = method
    call.gemini_sse = request.query.get("alt") == "sse"
    return await serve(request, call)


def routes() -> list[web.RouteDef]:
    return [
        web.post(f"/gemini/{{version:{GEMINI_VERSION}}}/models/{{target}}", call_method),
        web.post("/{version:v1beta|v1alpha|v1}/models/{target}", call_method),
    ]
