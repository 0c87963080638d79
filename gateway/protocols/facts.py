"""What the gateway must know about a chat request before routing and holding quota, and its field checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.protocols.errors import GatewayError

MAX_OUTPUT_TOKENS = 10_000_000  # anything above is absurd for any model and would overflow a hold
MAX_CHOICES = 128  # OpenAI's own limit on `n`
MAX_MODEL_CHARS = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The billing- and routing-relevant facts of one chat request, protocol-neutral.

    `max_output_tokens` is None when the request names no limit (the hold then uses the configured
    default). `n` is how many choices/candidates are generated (the hold multiplies output by it).
    `wants_usage` says whether the caller asked to see usage in its stream (OpenAI
    `stream_options.include_usage`); the other protocols always carry usage, so it is True there.
    """

    model: str
    stream: bool
    max_output_tokens: int | None
    n: int = 1
    wants_usage: bool = True


def require_object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise GatewayError("invalid_request", "the request body must be a JSON object")
    return body


def require_model(body: Mapping[str, Any]) -> str:
    """A model name that routing, the ledger and (for Gemini channels, quoted) a URL can carry: no
    control characters, at most MAX_MODEL_CHARS."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise GatewayError("invalid_request", "`model` must be a non-empty string", param="model")
    if len(model) > MAX_MODEL_CHARS or _CONTROL.search(model):
        raise GatewayError("invalid_request",
                           f"`model` must be at most {MAX_MODEL_CHARS} printable characters", param="model")
    return model


def require_list(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if not isinstance(value, list) or not value:
        raise GatewayError("invalid_request", f"`{name}` must be a non-empty array", param=name)
    return value


def require_text_or_list(body: Mapping[str, Any], name: str, required: bool = True) -> None:
    """`body[name]` must be a non-empty string or array (prompts and inputs); absent only if optional."""
    value = body.get(name)
    if value is None and not required:
        return
    if not (isinstance(value, str | list) and value):
        raise GatewayError("invalid_request", f"`{name}` must be a non-empty string or array", param=name)


def optional_object(body: Mapping[str, Any], name: str, param: str | None = None) -> Mapping[str, Any]:
    """`body[name]` if it is an object, {} if absent or null; anything else is refused."""
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GatewayError("invalid_request", f"`{param or name}` must be an object", param=param or name)
    return value


def optional_bool(body: Mapping[str, Any], name: str, param: str | None = None) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise GatewayError("invalid_request", f"`{param or name}` must be a boolean", param=param or name)
    return value


def optional_count(body: Mapping[str, Any], name: str, maximum: int, param: str | None = None) -> int | None:
    """A positive integer field no larger than `maximum`, or None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    label = param or name
    if isinstance(value, bool) or not isinstance(value, int):
        raise GatewayError("invalid_request", f"`{label}` must be an integer", param=label)
    if value < 1 or value > maximum:
        raise GatewayError("invalid_request", f"`{label}` must be between 1 and {maximum}", param=label)
    return value
