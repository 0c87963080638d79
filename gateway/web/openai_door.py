"""The OpenAI door: /v1/chat/completions, /v1/embeddings, /v1/completions, /v1/responses."""

from __future__ import annotations

from aiohttp import web

from gateway.call import Endpoint
from gateway.protocols import Protocol
from gateway.protocols import openai as wire
from gateway.web.doors import caller, new_call, read_json, serve

DOOR = Protocol.OPENAI


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, Endpoint.CHAT)


async def completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, Endpoint.COMPLETIONS)


async def responses(request: web.Request) -> web.StreamResponse:
    return await _generate(request, Endpoint.RESPONSES)


async def _generate(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    who = caller(request, DOOR)
    body, raw = await read_json(request)
    facts = wire.request_facts(endpoint.value, body)
    call = new_call(request, who, DOOR, endpoint, model=facts.model, body=body, raw=raw)
    call.stream, call.max_output_tokens = facts.stream, facts.max_output_tokens
    call.choices, call.wants_usage = facts.n, facts.wants_usage
    return await serve(request, call)


async def embeddings(request: web.Request) -> web.StreamResponse:
    who = caller(request, DOOR)
    body, raw = await read_json(request)
    facts = wire.request_facts(Endpoint.EMBEDDINGS.value, body)
    call = new_call(request, who, DOOR, Endpoint.EMBEDDINGS, model=facts.model, body=body, raw=raw)
    return await serve(request, call)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/chat/completions", chat_completions),
        web.post("/v1/completions", completions),
        web.post("/v1/responses", responses),
        web.post("/v1/embeddings", embeddings),
    ]
