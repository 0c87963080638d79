"""OpenAI chat.completion.chunk streams: decoded into neutral events, and encoded from them."""

from __future__ import annotations

from gateway.protocols import Protocol, Usage
from gateway.protocols.sse import Event
from gateway.protocols.usage import openai_usage
from gateway.translate import errors, ids, stops, usage_out
from gateway.translate.neutral import (
    Finish,
    Json,
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
from gateway.translate.openai.response import response_id
from gateway.translate.wire import loads, sse


class OpenAIDecoder:
    """Upstream OpenAI chunks -> neutral events. Tool calls start at their first fragment."""

    def __init__(self) -> None:
        self._started = False
        self._tools: set[tuple[int, int]] = set()
        self._positions: dict[int, dict[str, int]] = {}  # choice -> call id -> index, when unindexed

    def feed(self, event: Event) -> list[StreamEvent]:
        data = event.data.strip()
        if not data:
            return []
        if data == "[DONE]":
            return [StreamEnd()]
        chunk = loads(data)
        if not isinstance(chunk, dict):
            return [StreamError(502, "upstream sent a stream event that is not a JSON object")]
        if "error" in chunk:
            return [StreamError(*errors.read_error(Protocol.OPENAI, chunk))]
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(StreamStart(str(chunk.get("id", ""))))
        for choice in chunk.get("choices") or []:
            out.extend(self._choice(choice))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            out.append(UsageUpdate(openai_usage(usage)))
        return out

    def _choice(self, choice: Json) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        index = int(choice.get("index", 0))
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.append(ThinkingDelta(reasoning, choice=index))
        for key in ("content", "refusal"):
            if isinstance(delta.get(key), str) and delta[key]:
                out.append(TextDelta(delta[key], choice=index))
        for call in delta.get("tool_calls") or []:
            position = self._position(index, call)
            function = call.get("function") or {}
            if (index, position) not in self._tools:
                self._tools.add((index, position))
                out.append(ToolCallStart(position, str(call.get("id") or f"call_{position}"),
                                         str(function.get("name") or ""), choice=index))
            if isinstance(function.get("arguments"), str) and function["arguments"]:
                out.append(ToolCallDelta(position, function["arguments"], choice=index))
        reason = choice.get("finish_reason")
        if isinstance(reason, str):
            stop = stops.OPENAI_IN.get(reason, "other")
            if stop == "end_turn" and any(c == index for c, _ in self._tools):
                stop = "tool_use"  # compatible servers that call tools but say "stop"
            out.append(Finish(stop, choice=index))
        return out

    def _position(self, choice: int, call: Json) -> int:
        """The call's index; servers that omit it send each call whole, a new id meaning a new call."""
        if isinstance(call.get("index"), int):
            return int(call["index"])
        known = self._positions.setdefault(choice, {})
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id:
            return known.setdefault(call_id, len(known))
        return len(known) - 1 if known else 0

    def flush(self) -> list[StreamEvent]:
        return []


class OpenAIEncoder:
    """Neutral events -> OpenAI chunks for the caller, ending with the usage chunk and [DONE]."""

    def __init__(self, *, model: str, created: int, include_usage: bool) -> None:
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._id = "chatcmpl-gateway"
        self._open_choices: set[int] = set()
        self._finished = False
        self._closed = False
        self._usage: Usage | None = None

    def encode(self, event: StreamEvent) -> list[Event]:
        if self._closed:
            return []
        if isinstance(event, StreamStart):
            self._id = response_id(event.id) if event.id else self._id
        elif isinstance(event, TextDelta):
            return self._delta(event.choice, {"content": event.text})
        elif isinstance(event, ThinkingDelta):
            return self._delta(event.choice, {"reasoning_content": event.text}) if event.text else []
        elif isinstance(event, ToolCallStart):
            call = {"index": event.index, "id": ids.embed(event.id, event.signature), "type": "function",
                    "function": {"name": event.name, "arguments": ""}}
            return self._delta(event.choice, {"tool_calls": [call]})
        elif isinstance(event, ToolCallDelta):
            call = {"index": event.index, "function": {"arguments": event.arguments}}
            return self._delta(event.choice, {"tool_calls": [call]})
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, Finish):
            self._finished = True
            return self._delta(event.choice, {}, stops.OPENAI_OUT[event.reason])
        elif isinstance(event, StreamEnd):
            return self._terminal()
        elif isinstance(event, StreamError):
            self._closed = True
            return errors.stream_error_event(Protocol.OPENAI, event.status, event.message)
        return []

    def flush(self) -> list[Event]:
        return self._terminal() if self._finished and not self._closed else []

    def _chunk(self, choices: list[Json]) -> Json:
        chunk: Json = {"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                       "model": self._model, "choices": choices}
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def _delta(self, index: int, delta: Json, finish: str | None = None) -> list[Event]:
        out: list[Event] = []
        if index not in self._open_choices:
            self._open_choices.add(index)
            role = {"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                    "finish_reason": None}
            out.append(sse(self._chunk([role])))
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        out.append(sse(self._chunk([choice])))
        return out

    def _terminal(self) -> list[Event]:
        self._closed = True
        out: list[Event] = []
        if self._include_usage and self._usage is not None:
            chunk = self._chunk([])
            chunk["usage"] = usage_out.openai(self._usage)
            out.append(sse(chunk))
        out.append(sse("[DONE]"))
        return out
