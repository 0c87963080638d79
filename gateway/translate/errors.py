"""Upstream error bodies and mid-stream error events, read in one protocol and re-shaped for another."""

from __future__ import annotations

from typing import Any

from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError, error_body
from gateway.protocols.redact import MAX_MESSAGE_CHARS, find_message, generic_message, scrub_secrets
from gateway.protocols.sse import Event
from gateway.translate.neutral import Json
from gateway.translate.wire import sse

ANTHROPIC_TYPE_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
                         "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
                         "rate_limit_error": 429, "api_error": 500, "timeout_error": 504,
                         "overloaded_error": 529}
OPENAI_TYPE_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                      "not_found_error": 404, "rate_limit_error": 429, "rate_limit_exceeded": 429,
                      "insufficient_quota": 429, "server_error": 500, "api_error": 500,
                      "overloaded_error": 503, "slow_down": 503}
GEMINI_STATUS_CODE = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
                      "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
                      "ABORTED": 409, "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499,
                      "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500, "UNIMPLEMENTED": 501,
                      "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}


def read_error(proto: Protocol, body: Any, status: int | None = None) -> tuple[int, str]:
    """(HTTP status, caller-safe message) of an error body in `proto`'s shape; `status` wins when
    given. Secrets an upstream echoes in its message are scrubbed."""
    found = find_message(body)
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        status = status or 502
        return status, _safe(found, status)
    message = _safe(found, status or 500)
    if status is not None:
        return status, message
    if proto is Protocol.GEMINI:
        code = err.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
            return code, message
        return GEMINI_STATUS_CODE.get(str(err.get("status")), 500), message
    table = ANTHROPIC_TYPE_STATUS if proto is Protocol.ANTHROPIC else OPENAI_TYPE_STATUS
    for key in (err.get("code"), err.get("type")):
        if isinstance(key, str) and key in table:
            return table[key], message
    return 500, message


def _safe(message: str | None, status: int) -> str:
    if not message or not message.strip():
        return generic_message(status)
    text = scrub_secrets(message.strip())
    return text[:MAX_MESSAGE_CHARS] + "…" if len(text) > MAX_MESSAGE_CHARS else text


def error_response(door: Protocol, channel: Protocol, status: int, body: Json) -> tuple[int, Json]:
    """An upstream error reply re-shaped into the caller's protocol, under the SPEC §7 type names."""
    status, message = read_error(channel, body, status)
    if status == 529 and door is not Protocol.ANTHROPIC:
        status = 503  # 529 is Anthropic's own "overloaded"; other protocols say 503
    err = GatewayError.from_upstream_status(status, message)
    return err.http_status, error_body(door, err)


def stream_error_event(door: Protocol, status: int, message: str) -> list[Event]:
    """The caller protocol's mid-stream error event; the stream ends after it (no [DONE]/message_stop)."""
    if status == 529 and door is not Protocol.ANTHROPIC:
        status = 503
    body = error_body(door, GatewayError.from_upstream_status(status, _safe(message, status)))
    if door is Protocol.ANTHROPIC:
        return [sse(body, "error")]
    return [sse(body)]
