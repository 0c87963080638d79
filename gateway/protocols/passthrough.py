"""Same-protocol relays: upstream events go to the caller byte-for-byte while usage, generated text and
in-stream errors are read on the way; plus usage from non-streamed bodies.

JSON is parsed only where something must be read. Anthropic events are told apart by their event name,
so `ping`, `content_block_stop`, `message_stop` and signature deltas cost no parse. OpenAI and Gemini
chunks that carry text must be parsed to count it exactly (orjson takes ~0.7 µs for a typical chunk,
about what a content-aware byte sniff would cost); only `[DONE]` skips it. An error event whose text
looks like it holds a credential is re-encoded with the secret redacted; every other event keeps `raw`.
A parsed event that is not a JSON object means the stream is broken: the caller gets the gateway's error
event in its protocol instead (as translation does; a Gemini JSON-array caller would otherwise get an
array that does not parse). Nothing is relayed after a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.protocols import Protocol, Usage, anthropic, gemini, openai
from gateway.protocols.errors import GatewayError, stream_error_event
from gateway.protocols.redact import scrub_secrets
from gateway.protocols.sse import Event
from gateway.protocols.usage import anthropic_usage, openai_usage
from gateway.translate.base import UpstreamFailure

try:
    from orjson import loads as _loads
except ImportError:  # orjson is optional (the `fast` extra)
    from json import loads as _loads  # type: ignore[assignment]

# Endpoints whose bodies hold no billable usage (token counting is free).
_COUNT_ENDPOINTS = frozenset({"count_tokens", "countTokens"})
NOT_JSON = "upstream sent a stream event that is not a JSON object"


def _parse(data: str) -> dict[str, Any] | None:
    """The event's JSON object, or None for anything else (invalid JSON is relayed, not read)."""
    try:
        value = _loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _without_secrets(event: Event) -> Event:
    """`event` unchanged, unless its text holds something shaped like a key: then re-encoded without."""
    clean = scrub_secrets(event.data)
    if clean == event.data:
        return event
    return Event(data=clean, event=event.event, id=event.id, retry=event.retry)


class _Relay:
    """The counters every relay keeps (see `StreamRelay`). `output_chars` counts UTF-8 bytes of
    generated text, so `estimate.tokens_from_chars(output_chars)` bills it by the estimate rule."""

    protocol: Protocol

    def __init__(self) -> None:
        self.usage = Usage()
        self.output_chars = 0
        self.failure: UpstreamFailure | None = None
        self.finished = False

    def feed(self, event: Event) -> list[Event]:
        if self.failure is not None:
            return []  # the caller has its error event: nothing may follow it ([DONE] included)
        return self._feed(event)

    def _feed(self, event: Event) -> list[Event]:
        raise NotImplementedError

    def flush(self) -> list[Event]:
        """Pass-through adds nothing after the upstream ends: the caller already has every event."""
        return []

    def _fail(self, failure: UpstreamFailure, event: Event) -> list[Event]:
        self.failure = failure
        return [_without_secrets(event)]

    def _garbled(self, event: Event) -> list[Event]:
        """An event that had to be read and is not a JSON object. Blank data (a keep-alive some
        compatible servers send) is relayed as it came."""
        if not event.data.strip():
            return [event]
        self.failure = UpstreamFailure(502, NOT_JSON)
        return [stream_error_event(self.protocol, GatewayError("bad_gateway", NOT_JSON))]


class OpenAIPassthrough(_Relay):
    """OpenAI chat/completions stream to an OpenAI caller. The gateway always asks the upstream for the
    usage chunk; with `strip_usage_chunk` (the caller did not ask) that chunk is read and not relayed."""

    protocol = Protocol.OPENAI

    def __init__(self, strip_usage_chunk: bool) -> None:
        super().__init__()
        self.strip_usage_chunk = strip_usage_chunk

    def _feed(self, event: Event) -> list[Event]:
        if openai.is_done(event):
            self.finished = True
            return [event]
        chunk = _parse(event.data)
        if chunk is None:
            return self._garbled(event)
        failure = openai.chunk_failure(chunk)
        if failure is not None:
            return self._fail(failure, event)
        usage = openai.chunk_usage(chunk)
        if usage is not None:
            self.usage = usage
            if self.strip_usage_chunk and openai.is_usage_only(chunk):
                return []
        self.output_chars += openai.chunk_output_chars(chunk)
        return [event]


class AnthropicPassthrough(_Relay):
    """Anthropic Messages stream to an Anthropic caller. Usage starts from `message_start` and each
    `message_delta` restates cumulative counts; `event: error` is the in-stream failure."""

    protocol = Protocol.ANTHROPIC

    def __init__(self) -> None:
        super().__init__()
        self._usage_fields: dict[str, Any] = {}

    def _feed(self, event: Event) -> list[Event]:
        name = event.event
        if name in ("ping", "content_block_stop"):
            return [event]
        if name == "message_stop":
            self.finished = True
            return [event]
        if name == "content_block_delta" and '"signature_delta"' in event.data:
            return [event]
        payload = _parse(event.data)
        if payload is None:
            return self._garbled(event)
        kind = name or payload.get("type")  # the SDKs dispatch on the event name; unnamed: the type
        if kind == "error":
            return self._fail(anthropic.stream_failure(payload), event)
        if kind == "message_start":
            self._take_usage(anthropic.message_start_usage(payload))
        elif kind == "message_delta":
            self._take_usage(payload.get("usage"))
        elif kind == "message_stop":
            self.finished = True
        else:
            self.output_chars += anthropic.event_output_chars(payload)
        return [event]

    def _take_usage(self, update: object) -> None:
        if isinstance(update, Mapping):
            self._usage_fields = anthropic.merge_usage(self._usage_fields, update)
            self.usage = anthropic_usage(self._usage_fields)


class GeminiPassthrough(_Relay):
    """Gemini `streamGenerateContent?alt=sse` to a Gemini caller. Every chunk may carry cumulative
    `usageMetadata`; the stream has no terminator, so a chunk with a finishReason marks the end."""

    protocol = Protocol.GEMINI

    def _feed(self, event: Event) -> list[Event]:
        chunk = _parse(event.data)
        if chunk is None:
            return self._garbled(event)
        failure = gemini.chunk_failure(chunk)
        if failure is not None:
            return self._fail(failure, event)
        usage = gemini.chunk_usage(chunk)
        if usage is not None:
            self.usage = usage
        self.output_chars += gemini.chunk_output_chars(chunk)
        if gemini.finish_reason(chunk) is not None:
            self.finished = True
        return [event]


def usage_from_body(protocol: Protocol, endpoint: str, body: Mapping[str, Any]) -> Usage | None:
    """The usage a non-streamed upstream answer reports, None if it has none.

    OpenAI: `usage` of chat, completions, embeddings and responses bodies. Anthropic: `usage` of a
    message. Gemini: `usageMetadata` of generateContent (embedding answers carry none). The token
    counting endpoints (`count_tokens`, `countTokens`) are never billed, so they give None."""
    if endpoint in _COUNT_ENDPOINTS:
        return None
    if protocol is Protocol.GEMINI:
        return gemini.chunk_usage(body)
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return None
    return anthropic_usage(usage) if protocol is Protocol.ANTHROPIC else openai_usage(usage)


__all__ = ["AnthropicPassthrough", "GeminiPassthrough", "OpenAIPassthrough", "usage_from_body"]
