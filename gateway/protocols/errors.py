"""Errors the gateway answers with, rendered in the caller's protocol (SPEC §7)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.protocols import Protocol
from gateway.protocols.sse import Event

# kind -> (status, openai type, openai code, anthropic type, gemini status)
_KINDS: dict[str, tuple[int, str, str | None, str, str]] = {
    "invalid_api_key": (401, "invalid_request_error", "invalid_api_key", "authentication_error",
                        "UNAUTHENTICATED"),
    "permission": (403, "permission_error", None, "permission_error", "PERMISSION_DENIED"),
    "model_not_found": (404, "invalid_request_error", "model_not_found", "not_found_error",
                        "NOT_FOUND"),
    "not_found": (404, "invalid_request_error", "not_found", "not_found_error", "NOT_FOUND"),
    "invalid_request": (400, "invalid_request_error", None, "invalid_request_error",
                        "INVALID_ARGUMENT"),
    "request_timeout": (408, "invalid_request_error", "request_timeout", "invalid_request_error",
                        "DEADLINE_EXCEEDED"),
    "unsupported_media": (415, "invalid_request_error", "unsupported_content_encoding",
                          "invalid_request_error", "INVALID_ARGUMENT"),
    "too_large": (413, "invalid_request_error", "request_too_large", "request_too_large",
                  "INVALID_ARGUMENT"),
    "insufficient_quota": (429, "insufficient_quota", "insufficient_quota", "rate_limit_error",
                           "RESOURCE_EXHAUSTED"),
    "rate_limited": (429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error",
                     "RESOURCE_EXHAUSTED"),
    "bad_gateway": (502, "server_error", None, "api_error", "UNAVAILABLE"),
    "unavailable": (503, "server_error", None, "overloaded_error", "UNAVAILABLE"),
    "timeout": (504, "server_error", None, "api_error", "DEADLINE_EXCEEDED"),
    "internal": (500, "server_error", None, "api_error", "INTERNAL"),
}

# Upstream statuses re-shaped for callers: status -> kind used for the body's type fields.
_STATUS_KIND = {400: "invalid_request", 401: "bad_gateway", 403: "bad_gateway",
                404: "not_found", 413: "too_large", 422: "invalid_request", 429: "rate_limited",
                500: "internal", 502: "bad_gateway", 503: "unavailable", 504: "timeout",
                529: "unavailable"}


@dataclass(slots=True)
class GatewayError(Exception):
    """An error answered to the caller. `kind` picks status and type names from the SPEC table."""

    kind: str
    message: str
    param: str | None = None
    status: int | None = None  # overrides the kind's status (e.g. an upstream 422 passed on)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown error kind {self.kind!r}")
        Exception.__init__(self, self.message)

    @property
    def http_status(self) -> int:
        return self.status if self.status is not None else _KINDS[self.kind][0]

    @classmethod
    def from_upstream_status(cls, status: int, message: str) -> GatewayError:
        """An upstream's error (already stripped of secrets) carried to the caller under its status."""
        kind = _STATUS_KIND.get(status, "bad_gateway" if status >= 500 else "invalid_request")
        return cls(kind, message, status=status)


def error_body(protocol: Protocol, err: GatewayError) -> dict[str, Any]:
    """The JSON body of `err` in `protocol`'s shape."""
    status, oa_type, oa_code, an_type, ge_status = _KINDS[err.kind]
    status = err.http_status
    if protocol is Protocol.ANTHROPIC:
        if status == 529:
            an_type = "overloaded_error"
        return {"type": "error", "error": {"type": an_type, "message": err.message}}
    if protocol is Protocol.GEMINI:
        return {"error": {"code": status, "message": err.message, "status": ge_status}}
    return {"error": {"message": err.message, "type": oa_type, "param": err.param,
                      "code": oa_code}}


def error_headers(err: GatewayError) -> dict[str, str]:
    """Headers that go with `err` whatever the protocol (SPEC §7)."""
    headers = dict(err.headers)
    if err.kind == "insufficient_quota":
        headers["x-should-retry"] = "false"
    return headers


def stream_error_event(protocol: Protocol, err: GatewayError) -> Event:
    """The event that ends a stream with `err` in `protocol` (no [DONE] follows it for OpenAI)."""
    body = error_body(protocol, err)
    if protocol is Protocol.ANTHROPIC:
        return Event(data=json.dumps(body), event="error")
    return Event(data=json.dumps(body))
