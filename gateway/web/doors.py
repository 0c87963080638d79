"""Where the three doors meet: reading a call's body, building the Call and running the pipeline."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway import counting, pipeline
from gateway.call import Call, Endpoint
from gateway.config.models import Token
from gateway.ledger.base import LedgerUnavailable, LogRow, Outcome
from gateway.protocols import Protocol, json_body
from gateway.protocols.errors import GatewayError
from gateway.protocols.facts import RequestFacts
from gateway.runtime import Runtime
from gateway.web.auth import Caller, authenticate, check_model
from gateway.web.keys import CALL_STARTED, REQUEST_ID, RUNTIME
from gateway.web.responder import AiohttpResponder

PARSE_IN_THREAD_BYTES = 1024 * 1024  # larger bodies are parsed off the event loop
MAX_LOGGED_MODEL = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

FactsReader = Callable[[dict[str, Any]], RequestFacts]


async def read_json(request: web.Request, *, body_timeout: float) -> tuple[dict[str, Any], bytes]:
    """The request body as a strict JSON object (gateway.protocols.json_body), or the caller's error:
    415 compressed, 400 not JSON or naming an upstream, 408 slower than `body_timeout` seconds once the
    headers are in (server.body_timeout_seconds: a slow body holds a connection and its memory),
    413 too large."""
    json_body.check_content_encoding(request.headers.get("Content-Encoding"))
    json_body.check_content_type(request.headers.get("Content-Type"))
    try:
        if request.content.is_eof():  # the whole body came with the headers (usual): nothing to wait for
            raw = await request.read()
        else:
            async with asyncio.timeout(body_timeout):
                raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise GatewayError("too_large", "Request body is too large.") from None
    except TimeoutError:
        raise GatewayError("request_timeout",
                           f"The request body did not arrive within {body_timeout:g} seconds.") from None
    if len(raw) > PARSE_IN_THREAD_BYTES:
        body = await asyncio.to_thread(json_body.parse_object, raw)
    else:
        body = json_body.parse_object(raw)
    json_body.refuse_target_fields(body)
    return body, raw


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def caller(request: web.Request, door: Protocol) -> Caller:
    rt = runtime(request)
    return authenticate(request, rt.config, door)


async def accept_call(request: web.Request, door: Protocol, endpoint: Endpoint, read_facts: FactsReader, *,
                      url_model: str | None = None) -> Call:
    """The call a request makes. Key, address and channel choice are checked first (401/403, nothing
    written: unauthenticated traffic never reaches the ledger); a refusal after that (body, fields,
    model rights) leaves one ledger row with the error."""
    who = caller(request, door)
    hint = url_model
    try:
        config = who.config or runtime(request).config
        body, raw = await read_json(request, body_timeout=config.server.body_timeout_seconds)
        if hint is None and isinstance(body.get("model"), str):
            hint = body["model"]
        facts = read_facts(body)
        return new_call(request, who, door, endpoint, facts=facts, body=body, raw=raw)
    except GatewayError as err:
        await _log_refusal(request, who.token, door, endpoint, err, model=hint or "")
        raise


async def _log_refusal(request: web.Request, token: Token, door: Protocol, endpoint: Endpoint,
                       err: GatewayError, *, model: str) -> None:
    rt = runtime(request)
    started = request.get(CALL_STARTED, time.monotonic())
    row = LogRow(request_id=request.get(REQUEST_ID) or uuid.uuid4().hex, token=token.name,
                 model=printable(model)[:MAX_LOGGED_MODEL], time=time.time(), protocol=door.value,
                 endpoint=endpoint.value, client_ip=request.remote or "", status=err.http_status,
                 outcome=Outcome.ERROR, error=printable(err.message),
                 request_time_ms=int((time.monotonic() - started) * 1000))
    rt.metrics.call_finished(rt.config, row)
    try:
        await pipeline.shielded(rt.ledger.log(row))
    except LedgerUnavailable:
        rt.log.error("ledger_unavailable", request_id=row.request_id)


def printable(text: str) -> str:
    """`text` safe for a ledger row: control characters and lone surrogates written as escapes."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", text)


def new_call(request: web.Request, who: Caller, door: Protocol, endpoint: Endpoint, *, facts: RequestFacts,
             body: dict[str, Any], raw: bytes) -> Call:
    check_model(who.token, facts.model)
    return Call(request_id=request.get(REQUEST_ID) or uuid.uuid4().hex, door=door, endpoint=endpoint,
                token=who.token, model=facts.model, body=body, raw=raw, client_ip=request.remote or "",
                arrived=time.time(), started=request.get(CALL_STARTED, time.monotonic()),
                forced_channel=who.forced_channel, excluded_channel=who.excluded_channel,
                stream=facts.stream, max_output_tokens=facts.max_output_tokens, choices=facts.n,
                wants_usage=facts.wants_usage, config=who.config)


async def serve(request: web.Request, call: Call) -> web.StreamResponse:
    """Run `call` through the pipeline (token counting: the free counting path) and return whatever
    response it wrote."""
    rt = runtime(request)
    config = call.config or rt.config  # the call's snapshot, as the pipeline reads it
    responder = AiohttpResponder(request, write_timeout=config.server.write_timeout_seconds)
    handle = counting.handle if call.endpoint is Endpoint.COUNT_TOKENS else pipeline.handle
    await handle(rt, call, responder)
    if responder.response is None:  # the pipeline always answers; this guards a logic error
        raise GatewayError("internal", "no response was produced")
    return responder.response
