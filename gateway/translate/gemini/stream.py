"""Gemini streamGenerateContent (alt=sse) streams: decoded into neutral events, and encoded from them."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.protocols import Protocol, Usage
from gateway.protocols.sse import Event
from gateway.protocols.usage import gemini_usage
from gateway.translate import errors, ids, stops, usage_out
from gateway.translate.gemini.response import function_call_part
from gateway.translate.neutral import (
    Drops,
    Finish,
    Json,
    StopReason,
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from gateway.translate.wire import dumps, loads, sse


class GeminiDecoder:
    """Upstream Gemini chunks -> neutral events. Each whole functionCall becomes a start and one delta;
    Gemini has no end marker, so the end is declared at flush once a candidate finished."""

    def __init__(self) -> None:
        self._response_id = ""
        self._started = False
        self._calls: dict[int, int] = {}
        self._finished = False

    def feed(self, event: Event) -> list[StreamEvent]:
        data = event.data.strip()
        if not data:
            return []
        chunk = loads(data)
        if not isinstance(chunk, dict):
            return [StreamError(502, "upstream sent a stream event that is not a JSON object")]
        if "error" in chunk:
            return [StreamError(*errors.read_error(Protocol.GEMINI, chunk))]
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            self._response_id = str(chunk.get("responseId", ""))
            out.append(StreamStart(self._response_id))
        if isinstance(chunk.get("usageMetadata"), dict):
            out.append(UsageUpdate(gemini_usage(chunk["usageMetadata"])))
        candidates = chunk.get("candidates") or []
        for position, candidate in enumerate(candidates):
            out.extend(self._candidate(int(candidate.get("index", position)), candidate))
        if not candidates and (chunk.get("promptFeedback") or {}).get("blockReason"):
            self._finished = True
            out.append(Finish("content_filter"))
        return out

    def _candidate(self, index: int, candidate: Json) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for part in (candidate.get("content") or {}).get("parts") or []:
            if not isinstance(part, dict):
                continue
            call = part.get("functionCall")
            if isinstance(call, dict):
                position = self._calls.get(index, 0)
                self._calls[index] = position + 1
                call_id = str(call.get("id") or ids.synthetic(self._response_id, position, index))
                out.append(ToolCallStart(position, call_id, str(call.get("name", "")), choice=index,
                                         signature=part.get("thoughtSignature")))
                out.append(ToolCallDelta(position, dumps(call.get("args") or {}), choice=index))
            elif isinstance(part.get("text"), str) and part["text"]:
                if part.get("thought") is True:
                    out.append(ThinkingDelta(part["text"], part.get("thoughtSignature"), choice=index))
                else:
                    out.append(TextDelta(part["text"], choice=index))
        reason = candidate.get("finishReason")
        if isinstance(reason, str):
            self._finished = True
            stop = stops.from_gemini(reason, self._calls.get(index, 0) > 0)
            out.append(Finish(stop or "other", choice=index))
        return out

    def flush(self) -> list[StreamEvent]:
        return [StreamEnd()] if self._finished else []


@dataclass(slots=True)
class _Call:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class GeminiEncoder:
    """Neutral events -> Gemini chunks for the caller. Calls are sent whole, with the finish reason
    and final usage, in the last chunk."""

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._id = ""
        self._usage: Usage | None = None
        self._calls: dict[int, dict[int, _Call]] = {}
        self._stops: dict[int, StopReason] = {}
        self._closed = False

    def encode(self, event: StreamEvent) -> list[Event]:
        if self._closed:
            return []
        if isinstance(event, StreamStart):
            self._id = event.id
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, TextDelta):
            return [sse(self._chunk([self._candidate(event.choice, [{"text": event.text}])]))]
        elif isinstance(event, ThinkingDelta) and event.text:
            part = {"text": event.text, "thought": True}
            return [sse(self._chunk([self._candidate(event.choice, [part])]))]
        elif isinstance(event, ToolCallStart):
            self._calls.setdefault(event.choice, {})[event.index] = _Call(event.id, event.name)
        elif isinstance(event, ToolCallDelta):
            call = self._calls.get(event.choice, {}).get(event.index)
            if call is not None:
                call.arguments.append(event.arguments)
        elif isinstance(event, Finish):
            self._stops[event.choice] = event.reason
        elif isinstance(event, StreamEnd):
            return self._terminal()
        elif isinstance(event, StreamError):
            self._closed = True
            return errors.stream_error_event(Protocol.GEMINI, event.status, event.message)
        return []

    def flush(self) -> list[Event]:
        return self._terminal() if self._stops and not self._closed else []

    def _candidate(self, index: int, parts: list[Json]) -> Json:
        return {"content": {"parts": parts, "role": "model"}, "index": index}

    def _chunk(self, candidates: list[Json]) -> Json:
        chunk: Json = {"candidates": candidates}
        if self._usage is not None:
            chunk["usageMetadata"] = usage_out.gemini(self._usage)
        chunk["modelVersion"] = self._model
        chunk["responseId"] = self._id
        return chunk

    def _terminal(self) -> list[Event]:
        self._closed = True
        candidates = []
        drops = Drops()  # a call whose arguments are not a JSON object still goes out, with {}
        for index in sorted(set(self._calls) | set(self._stops)):
            calls = self._calls.get(index, {})
            parts = [function_call_part(c.id, c.name, "".join(c.arguments), drops)
                     for _, c in sorted(calls.items())]
            candidate = self._candidate(index, parts or [{"text": ""}])
            candidate["finishReason"] = stops.GEMINI_OUT[self._stops.get(index, "end_turn")]
            candidates.append(candidate)
        return [sse(self._chunk(candidates))] if candidates or self._usage else []
