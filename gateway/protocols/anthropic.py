"""Anthropic wire facts: Messages request checks, upstream error text, and readers of stream events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.protocols.estimate import utf8_len
from gateway.protocols.facts import (
    MAX_OUTPUT_TOKENS,
    RequestFacts,
    optional_bool,
    optional_count,
    require_list,
    require_model,
    require_object,
)
from gateway.protocols.redact import scrub_secrets, upstream_message
from gateway.translate.base import UpstreamFailure

# error.type -> HTTP status (docs.claude.com/en/api/errors); "type values may grow over time"
ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
    "permission_error": 403, "not_found_error": 404, "conflict_error": 409, "request_too_large": 413,
    "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529,
}
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
# delta.type -> the field holding generated text; signature_delta carries no text (an opaque signature)
_DELTA_TEXT = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def chat_request_facts(body: object) -> RequestFacts:
    """Check a `/v1/messages` body and pull out what routing and the hold need. A missing `max_tokens`
    is left for the upstream to refuse (the hold then uses the configured default)."""
    obj = require_object(body)
    model = require_model(obj)
    require_list(obj, "messages")
    return RequestFacts(model=model, stream=optional_bool(obj, "stream"),
                        max_output_tokens=optional_count(obj, "max_tokens", MAX_OUTPUT_TOKENS))


def request_facts(endpoint: str, body: object) -> RequestFacts:
    """Facts of a Messages ("chat") or token-counting ("count_tokens", no output) request."""
    if endpoint == "chat":
        return chat_request_facts(body)
    if endpoint == "count_tokens":
        obj = require_object(body)
        model = require_model(obj)
        require_list(obj, "messages")
        return RequestFacts(model=model, stream=False, max_output_tokens=0)
    raise ValueError(f"Anthropic has no {endpoint!r} endpoint")


def error_message(status: int, body: bytes) -> str:
    """The caller-safe message of an Anthropic error body `{"type":"error","error":{"type","message"}}`."""
    return upstream_message(status, body)


def stream_failure(payload: Mapping[str, Any]) -> UpstreamFailure:
    """The failure an `event: error` payload stands for (overloaded_error -> 529, api_error -> 500, …)."""
    error = payload.get("error")
    error = error if isinstance(error, Mapping) else {}
    kind = error.get("type")
    message = error.get("message")
    status = ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    text = scrub_secrets(message) if isinstance(message, str) and message else (
        kind if isinstance(kind, str) else "upstream error")
    return UpstreamFailure(status, text)


def merge_usage(current: Mapping[str, Any], update: object) -> dict[str, Any]:
    """Usage fields so far updated by a later usage object. `message_start` gives the first numbers;
    each `message_delta` usage is cumulative and may restate any field, so present numbers replace."""
    merged = dict(current)
    if isinstance(update, Mapping):
        for key in _USAGE_FIELDS:
            value = update.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                merged[key] = value
    return merged


def message_start_usage(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `usage` object inside a `message_start` event's message."""
    message = payload.get("message")
    usage = message.get("usage") if isinstance(message, Mapping) else None
    return usage if isinstance(usage, Mapping) else None


def event_output_chars(payload: Mapping[str, Any]) -> int:
    """UTF-8 bytes of generated text in a stream event: text, thinking and tool-input JSON deltas, and
    the text or tool name a `content_block_start` opens with."""
    kind = payload.get("type")
    if kind == "content_block_delta":
        delta = payload.get("delta")
        if isinstance(delta, Mapping):
            delta_type = delta.get("type")
            field = _DELTA_TEXT.get(delta_type) if isinstance(delta_type, str) else None
            value = delta.get(field) if field else None
            return utf8_len(value) if isinstance(value, str) else 0
    elif kind == "content_block_start":
        block = payload.get("content_block")
        if isinstance(block, Mapping):
            texts = (block.get(key) for key in ("text", "thinking", "name"))
            return sum(utf8_len(text) for text in texts if isinstance(text, str))
    return 0
