"""Gemini wire facts: generateContent request checks, upstream error text, and readers of stream chunks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.protocols import Usage
from gateway.protocols.errors import GatewayError
from gateway.protocols.estimate import utf8_len
from gateway.protocols.facts import (
    MAX_CHOICES,
    MAX_OUTPUT_TOKENS,
    RequestFacts,
    optional_count,
    optional_object,
    require_list,
    require_object,
)
from gateway.protocols.redact import stream_failure, upstream_message
from gateway.protocols.usage import gemini_usage
from gateway.translate.base import UpstreamFailure

# google.rpc.Code name -> HTTP status (cloud.google.com/apis/design/errors)
STATUS_CODES = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ABORTED": 409, "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501, "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}


def _either(obj: Mapping[str, Any], camel: str, snake: str) -> str:
    """The key a body uses: REST accepts both lowerCamel (what SDKs send) and snake_case names. Both
    at once are refused: the hold would read one while the upstream might read the other."""
    if camel in obj and snake in obj:
        raise GatewayError("invalid_request", f"`{camel}` and `{snake}` are the same field; send one",
                           param=camel)
    return snake if snake in obj else camel


def chat_request_facts(body: object, *, model: str, stream: bool) -> RequestFacts:
    """Check a generateContent body; the model and streaming come from the URL
    (`models/{model}:generateContent` or `:streamGenerateContent`)."""
    obj = require_object(body)
    if not model.strip():
        raise GatewayError("invalid_request", "the model name in the URL is empty", param="model")
    require_list(obj, "contents")
    config_key = _either(obj, "generationConfig", "generation_config")
    config = optional_object(obj, config_key)
    max_key = _either(config, "maxOutputTokens", "max_output_tokens")
    count_key = _either(config, "candidateCount", "candidate_count")
    return RequestFacts(
        model=model, stream=stream,
        max_output_tokens=optional_count(config, max_key, MAX_OUTPUT_TOKENS, f"{config_key}.{max_key}"),
        n=optional_count(config, count_key, MAX_CHOICES, f"{config_key}.{count_key}") or 1)


def request_facts(endpoint: str, body: object, *, model: str, stream: bool) -> RequestFacts:
    """Facts of a generateContent ("chat"), embedContent/batchEmbedContents ("embeddings") or
    countTokens ("count_tokens") request; the last two generate no output."""
    if endpoint == "chat":
        return chat_request_facts(body, model=model, stream=stream)
    if endpoint not in ("embeddings", "count_tokens"):
        raise ValueError(f"Gemini has no {endpoint!r} endpoint")
    obj = require_object(body)
    if not model.strip():
        raise GatewayError("invalid_request", "the model name in the URL is empty", param="model")
    if endpoint == "embeddings" and "requests" in obj:
        require_list(obj, "requests")
    elif endpoint == "embeddings":
        optional_object(obj, "content")
    return RequestFacts(model=model, stream=False, max_output_tokens=0)


def error_message(status: int, body: bytes) -> str:
    """The caller-safe message of a Google error body `{"error": {"code","message","status"}}` (also
    wrapped in the array a non-SSE stream returns)."""
    return upstream_message(status, body)


def chunk_usage(chunk: Mapping[str, Any]) -> Usage | None:
    """The chunk's `usageMetadata`, which is cumulative: the latest one is the whole call's so far."""
    metadata = chunk.get("usageMetadata", chunk.get("usage_metadata"))
    return gemini_usage(metadata) if isinstance(metadata, Mapping) else None


def chunk_failure(chunk: Mapping[str, Any]) -> UpstreamFailure | None:
    """An error object in place of a response (`{"error": {"code","message","status"}}`), else None."""
    return stream_failure(chunk.get("error"), error_status)


def error_status(error: Mapping[str, Any]) -> int:
    """The HTTP status of a Google error object: its numeric `code`, else its `status` name, else 500."""
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    status = error.get("status")
    return STATUS_CODES.get(status, 500) if isinstance(status, str) else 500


def finish_reason(chunk: Mapping[str, Any]) -> str | None:
    """The first candidate's finishReason, or a blocked prompt's blockReason (that chunk is the last)."""
    candidates = chunk.get("candidates")
    if isinstance(candidates, list):
        for candidate in candidates:
            if isinstance(candidate, Mapping):
                reason = candidate.get("finishReason", candidate.get("finish_reason"))
                if isinstance(reason, str) and reason:
                    return reason
    feedback = chunk.get("promptFeedback", chunk.get("prompt_feedback"))
    if isinstance(feedback, Mapping):
        blocked = feedback.get("blockReason", feedback.get("block_reason"))
        if isinstance(blocked, str) and blocked:
            return blocked
    return None


def chunk_output_chars(chunk: Mapping[str, Any]) -> int:
    """UTF-8 bytes of generated content in a chunk: text parts (thoughts included), function-call names
    and arguments (as compact JSON), and generated code."""
    candidates = chunk.get("candidates")
    if not isinstance(candidates, list):
        return 0
    total = 0
    for candidate in candidates:
        content = candidate.get("content") if isinstance(candidate, Mapping) else None
        parts = content.get("parts") if isinstance(content, Mapping) else None
        if not isinstance(parts, list):
            continue
        for part in parts:
            if isinstance(part, Mapping):
                total += _part_chars(part)
    return total


def _part_chars(part: Mapping[str, Any]) -> int:
    text = part.get("text")
    if isinstance(text, str):
        return utf8_len(text)
    call = part.get("functionCall", part.get("function_call"))
    if isinstance(call, Mapping):
        name = call.get("name")
        args = call.get("args")
        size = utf8_len(name) if isinstance(name, str) else 0
        if args is not None:
            size += utf8_len(json.dumps(args, ensure_ascii=False, separators=(",", ":")))
        return size
    code = part.get("executableCode", part.get("executable_code"))
    if isinstance(code, Mapping) and isinstance(source := code.get("code"), str):
        return utf8_len(source)
    return 0
