"""The OpenAI door: /v1/chat/completions, /v1/embeddings, /v1/completions, /v1/responses."""

from __future__ import annotations

from aiohttp import web

from gateway.call import Endpoint
from gateway.protocols import Protocol
from gateway.protocols import openai as wire
from gateway.web.doors import accept_call, serve

DOOR = Protocol.OPENAI


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, Endpoint.CHAT)


async def completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, Endpoint.COMPLETIONS)


async def responses(request: web.Request) -> web.StreamResponse:
    return await _generate(request, Endpoint.RESPONSES)


async def _generate(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    call = await accept_call(request, DOOR, endpoint, lambda body: wire.request_facts(endpoint.value, body))
    return await serve(request, call)


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await _generate(request, Endpoint.EMBEDDINGS)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/chat/completions", chat_completions),
        web.post("/v1/completions", completions),
        web.post("/v1/responses", responses),
        web.post("/v1/embeddings", embeddings),
    ]
