"""Per-request plumbing: request id, caller-protocol error bodies for every failure, the access log."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway import logs
from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError, error_body, error_headers
from gateway.web.keys import CALL_STARTED, DOOR, REQUEST_ID, RUNTIME, SENT_STATUS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def door_for(request: web.Request) -> Protocol:
    """Which protocol this path speaks, so that even a 404 answers in the caller's shape."""
    path = request.path
    if path.startswith(("/claude/", "/v1/messages")):
        return Protocol.ANTHROPIC
    if path.startswith(("/gemini/", "/v1beta/", "/v1alpha/")) or (path.startswith("/v1/models/")
                                                                  and ":" in path):
        return Protocol.GEMINI
    if path == "/v1/models" or path.startswith("/v1/models/"):
        if "anthropic-version" in request.headers:
            return Protocol.ANTHROPIC
        if "x-goog-api-key" in request.headers or "key" in request.query:
            return Protocol.GEMINI
    return Protocol.OPENAI


def render(request: web.Request, err: GatewayError) -> web.Response:
    door: Protocol = request.get(DOOR) or door_for(request)
    body = json.dumps(error_body(door, err)).encode()
    return web.Response(status=err.http_status, body=body, content_type="application/json",
                        headers=error_headers(err))


_HTTP_KINDS = {404: "not_found", 405: "not_found", 413: "too_large", 400: "invalid_request"}


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = os.urandom(16).hex()  # as unique as uuid4, a tenth of its cost
    request[REQUEST_ID] = request_id
    request[CALL_STARTED] = time.monotonic()
    request[DOOR] = door_for(request)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    log = request.app[RUNTIME].log
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except GatewayError as err:
        status = err.http_status
        return render(request, err)
    except asyncio.CancelledError:  # the caller hung up (handler cancellation): not a server error
        status = request.get(SENT_STATUS, 499)  # after its whole answer went out: the answer's status
        raise
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        kind = _HTTP_KINDS.get(exc.status, "invalid_request")
        message = {404: f"Unknown request URL: {request.method} {request.path}.",
                   405: f"Method {request.method} is not allowed on {request.path}.",
                   413: "Request body is too large."}.get(exc.status, exc.reason)
        return render(request, GatewayError(kind, message, status=exc.status))
    except Exception as exc:  # the caller gets a clean 500 in its protocol; the trace stays in our log
        log.exception("unhandled_error", path=request.path, error=f"{type(exc).__name__}")
        return render(request, GatewayError("internal", "The gateway failed to handle the request."))
    finally:
        logs.access(log, request_id, method=request.method, path=request.path, status=status,
                    ms=round((time.monotonic() - request[CALL_STARTED]) * 1000, 2))


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, streams included, carries x-request-id."""
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers["x-request-id"] = request_id
