"""Where the three doors meet: reading a call's body, building the Call and running the pipeline."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

from gateway import counting, pipeline
from gateway.call import Call, Endpoint
from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.runtime import Runtime
from gateway.web.auth import Caller, authenticate, check_model
from gateway.web.keys import CALL_STARTED, REQUEST_ID, RUNTIME
from gateway.web.responder import AiohttpResponder


async def read_json(request: web.Request) -> tuple[dict[str, Any], bytes]:
    """The request body as a JSON object, or a 400/413 in the caller's protocol."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise GatewayError("too_large", "Request body is too large.") from None
    if not raw:
        raise GatewayError("invalid_request", "Request body is empty; a JSON object is required.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise GatewayError("invalid_request", "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise GatewayError("invalid_request", "Request body must be a JSON object.")
    return body, raw


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def caller(request: web.Request, door: Protocol) -> Caller:
    rt = runtime(request)
    return authenticate(request, rt.config, door)


def new_call(request: web.Request, who: Caller, door: Protocol, endpoint: Endpoint, *, model: str,
             body: dict[str, Any], raw: bytes) -> Call:
    check_model(who.token, model)
    return Call(request_id=request.get(REQUEST_ID) or uuid.uuid4().hex, door=door, endpoint=endpoint,
                token=who.token, model=model, body=body, raw=raw, client_ip=request.remote or "",
                arrived=time.time(), started=request.get(CALL_STARTED, time.monotonic()),
                forced_channel=who.forced_channel, excluded_channel=who.excluded_channel)


async def serve(request: web.Request, call: Call) -> web.StreamResponse:
    """Run `call` through the pipeline (token counting: the free counting path) and return whatever
    response it wrote."""
    responder = AiohttpResponder(request)
    handle = counting.handle if call.endpoint is Endpoint.COUNT_TOKENS else pipeline.handle
    await handle(runtime(request), call, responder)
    if responder.response is None:  # the pipeline always answers; this guards a logic error
        raise GatewayError("internal", "no response was produced")
    return responder.response
