"""OpenAI wire facts: chat request checks, upstream error text, and readers of chat-completion chunks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.protocols import Usage
from gateway.protocols.estimate import utf8_len
from gateway.protocols.facts import (
    MAX_CHOICES,
    MAX_OUTPUT_TOKENS,
    RequestFacts,
    optional_bool,
    optional_count,
    optional_object,
    require_list,
    require_model,
    require_object,
    require_text_or_list,
)
from gateway.protocols.redact import stream_failure, upstream_message
from gateway.protocols.sse import Event
from gateway.protocols.usage import openai_usage
from gateway.translate.base import UpstreamFailure

DONE = "[DONE]"

# error.type / error.code of an in-stream error -> the HTTP status it stands for
_ERROR_STATUS = {
    "invalid_request_error": 400, "context_length_exceeded": 400, "authentication_error": 401,
    "invalid_api_key": 401, "permission_error": 403, "not_found_error": 404, "model_not_found": 404,
    "rate_limit_error": 429, "rate_limit_exceeded": 429, "insufficient_quota": 429,
    "tokens": 429, "requests": 429, "server_error": 500, "api_error": 500, "internal_error": 500,
    "service_unavailable": 503, "overloaded": 503, "slow_down": 503, "timeout": 504,
}
_DELTA_TEXT_KEYS = ("content", "reasoning_content", "reasoning", "refusal")


def chat_request_facts(body: object) -> RequestFacts:
    """Check a `/v1/chat/completions` body and pull out what routing and the hold need.

    When both `max_completion_tokens` and the deprecated `max_tokens` are given, the larger is held."""
    obj = require_object(body)
    model = require_model(obj)
    require_list(obj, "messages")
    stream = optional_bool(obj, "stream")
    options = optional_object(obj, "stream_options")
    include_usage = optional_bool(options, "include_usage", "stream_options.include_usage")
    limits = [v for v in (optional_count(obj, "max_completion_tokens", MAX_OUTPUT_TOKENS),
                          optional_count(obj, "max_tokens", MAX_OUTPUT_TOKENS)) if v is not None]
    n = optional_count(obj, "n", MAX_CHOICES) or 1
    return RequestFacts(model=model, stream=stream, max_output_tokens=max(limits) if limits else None,
                        n=n, wants_usage=include_usage if stream else True)


def request_facts(endpoint: str, body: object) -> RequestFacts:
    """Facts of any OpenAI generation or embedding request; `endpoint` is a `gateway.call.Endpoint`
    value ("chat", "completions", "responses", "embeddings"). Embeddings generate no output, so their
    `max_output_tokens` is 0."""
    if endpoint == "chat":
        return chat_request_facts(body)
    obj = require_object(body)
    model = require_model(obj)
    if endpoint == "embeddings":
        require_text_or_list(obj, "input")
        return RequestFacts(model=model, stream=False, max_output_tokens=0)
    stream = optional_bool(obj, "stream")
    if endpoint == "responses":  # usage always arrives in `response.completed`
        require_text_or_list(obj, "input", required=False)
        return RequestFacts(model=model, stream=stream,
                            max_output_tokens=optional_count(obj, "max_output_tokens", MAX_OUTPUT_TOKENS))
    if endpoint == "completions":  # best_of completions are generated (and billed) server-side
        require_text_or_list(obj, "prompt")
        options = optional_object(obj, "stream_options")
        include_usage = optional_bool(options, "include_usage", "stream_options.include_usage")
        n = optional_count(obj, "n", MAX_CHOICES) or 1
        best_of = optional_count(obj, "best_of", MAX_CHOICES) or 1
        return RequestFacts(model=model, stream=stream,
                            max_output_tokens=optional_count(obj, "max_tokens", MAX_OUTPUT_TOKENS),
                            n=max(n, best_of), wants_usage=include_usage if stream else True)
    raise ValueError(f"OpenAI has no {endpoint!r} endpoint")


def with_stream_usage(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a chat body that, when streaming, asks the upstream for the final usage chunk (the
    gateway bills on it; `OpenAIPassthrough(strip_usage_chunk=...)` hides it from callers who did not
    ask). Other bodies are copied unchanged. The caller's dicts are never mutated."""
    copy = dict(body)
    if copy.get("stream") is True:
        options = copy.get("stream_options")
        copy["stream_options"] = {**(options if isinstance(options, Mapping) else {}), "include_usage": True}
    return copy


def error_message(status: int, body: bytes) -> str:
    """The caller-safe message of an OpenAI(-compatible) error body `{"error": {"message": …}}`."""
    return upstream_message(status, body)


def is_done(event: Event) -> bool:
    """The `data: [DONE]` terminator."""
    return event.data.strip() == DONE


def chunk_usage(chunk: Mapping[str, Any]) -> Usage | None:
    """The usage a chunk carries (the final one under include_usage; some compatible servers put it on
    every chunk, cumulatively), or None for `"usage": null` and absent."""
    usage = chunk.get("usage")
    return openai_usage(usage) if isinstance(usage, Mapping) else None


def is_usage_only(chunk: Mapping[str, Any]) -> bool:
    """The include_usage chunk: `choices` is an empty array and `usage` an object."""
    return chunk.get("choices") == [] and isinstance(chunk.get("usage"), Mapping)


def chunk_failure(chunk: Mapping[str, Any]) -> UpstreamFailure | None:
    """An in-stream error `{"error": {...}}` (what openai-python raises APIError on), else None."""
    return stream_failure(chunk.get("error"), error_status)


def error_status(error: Mapping[str, Any]) -> int:
    """The HTTP status an OpenAI error object stands for: a numeric `code` or `status` (vLLM and other
    compatible servers send one), else by `type`/`code` name; unknown errors count as 500."""
    for key in ("code", "status"):
        value = error.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    for key in ("type", "code"):
        value = error.get(key)
        if isinstance(value, str) and value in _ERROR_STATUS:
            return _ERROR_STATUS[value]
    return 500


def chunk_output_chars(chunk: Mapping[str, Any]) -> int:
    """UTF-8 bytes of generated text in a chunk: delta content, reasoning, refusal, tool-call names and
    argument fragments (legacy `function_call` too), and legacy completions' `text`."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return 0
    total = 0
    for choice in choices:
        if not isinstance(choice, Mapping):
            continue
        text = choice.get("text")
        if isinstance(text, str):
            total += utf8_len(text)
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            continue
        for key in _DELTA_TEXT_KEYS:
            value = delta.get(key)
            if isinstance(value, str):
                total += utf8_len(value)
        calls = delta.get("tool_calls")
        functions = [delta.get("function_call")]
        if isinstance(calls, list):
            functions.extend(call.get("function") for call in calls if isinstance(call, Mapping))
        for function in functions:
            if isinstance(function, Mapping):
                texts = (function.get(key) for key in ("name", "arguments"))
                total += sum(utf8_len(text) for text in texts if isinstance(text, str))
    return total
