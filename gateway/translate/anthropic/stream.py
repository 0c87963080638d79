"""Anthropic Messages streams: decoded into neutral events, and encoded from them."""

from __future__ import annotations

from typing import Any

from gateway.protocols import Protocol, Usage
from gateway.protocols.sse import Event
from gateway.translate import errors, ids, stops, usage_out
from gateway.translate.anthropic.response import message_id
from gateway.translate.neutral import (
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


class AnthropicDecoder:
    """Upstream Anthropic events -> neutral events; usage is merged as the API reports it cumulatively."""

    def __init__(self) -> None:
        self._usage: Json = {}
        self._tool_of_block: dict[int, int] = {}

    def feed(self, event: Event) -> list[StreamEvent]:
        data = loads(event.data) if event.data.strip() else None
        if not isinstance(data, dict):
            return [] if not event.data.strip() else [
                StreamError(502, "upstream sent a stream event that is not a JSON object")]
        kind = data.get("type", event.event)
        if kind == "message_start":
            message = data.get("message") or {}
            return [StreamStart(str(message.get("id", ""))), *self._merge_usage(message.get("usage"))]
        if kind == "content_block_start":
            return self._block_start(int(data.get("index", 0)), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(int(data.get("index", 0)), data.get("delta") or {})
        if kind == "message_delta":
            out = self._merge_usage(data.get("usage"))
            delta = data.get("delta") or {}
            reason = delta.get("stop_reason")
            if isinstance(reason, str):
                out.append(Finish(stops.ANTHROPIC_IN.get(reason, "other"),
                                  stop_sequence=delta.get("stop_sequence")))
            return out
        if kind == "message_stop":
            return [StreamEnd()]
        if kind == "error":
            return [StreamError(*errors.read_error(Protocol.ANTHROPIC, data))]
        return []  # ping, content_block_stop, and event types added later

    def _merge_usage(self, usage: Any) -> list[StreamEvent]:
        if not isinstance(usage, dict):
            return []
        self._usage.update({k: v for k, v in usage.items() if v is not None})
        return [UsageUpdate(usage_out.read_anthropic(self._usage))]

    def _block_start(self, index: int, block: Json) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        if kind == "thinking" and block.get("thinking"):
            return [ThinkingDelta(str(block["thinking"]))]
        if kind == "tool_use":
            position = len(self._tool_of_block)
            self._tool_of_block[index] = position
            out: list[StreamEvent] = [ToolCallStart(position, str(block.get("id", "")),
                                                    str(block.get("name", "")))]
            if block.get("input"):
                out.append(ToolCallDelta(position, dumps(block["input"])))
            return out
        return []

    def _block_delta(self, index: int, delta: Json) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [TextDelta(str(delta["text"]))]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [ThinkingDelta(str(delta["thinking"]))]
        if kind == "signature_delta" and delta.get("signature"):
            return [ThinkingDelta("", signature=str(delta["signature"]))]
        if kind == "input_json_delta" and delta.get("partial_json") and index in self._tool_of_block:
            return [ToolCallDelta(self._tool_of_block[index], str(delta["partial_json"]))]
        return []

    def flush(self) -> list[StreamEvent]:
        return []


class AnthropicEncoder:
    """Neutral events -> Anthropic events for the caller: one content block open at a time."""

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._id = "msg_gateway"
        self._usage = Usage()
        self._started = False
        self._closed = False
        self._open: tuple[str, int] | None = None  # (kind, tool position or -1)
        self._next_block = 0
        self._stop: StopReason | None = None
        self._stop_sequence: str | None = None

    def encode(self, event: StreamEvent) -> list[Event]:
        if self._closed:
            return []
        if isinstance(event, StreamStart):
            self._id = message_id(event.id) if event.id else self._id
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, StreamError):
            self._closed = True
            return errors.stream_error_event(Protocol.ANTHROPIC, event.status, event.message)
        elif isinstance(event, StreamEnd):
            return self._terminal()
        elif getattr(event, "choice", 0) != 0:
            return []  # Anthropic has one answer per message; n was reported at the request
        elif isinstance(event, TextDelta):
            return self._into(("text", -1), {"type": "text", "text": ""},
                              {"type": "text_delta", "text": event.text})
        elif isinstance(event, ThinkingDelta):
            if not event.text:
                return []
            return self._into(("thinking", -1), {"type": "thinking", "thinking": "", "signature": ""},
                              {"type": "thinking_delta", "thinking": event.text})
        elif isinstance(event, ToolCallStart):
            block = {"type": "tool_use", "id": ids.embed(event.id, event.signature), "name": event.name,
                     "input": {}}
            return self._into(("tool", event.index), block, None)
        elif isinstance(event, ToolCallDelta):
            if self._open != ("tool", event.index):
                return []  # a fragment for a call already closed cannot be placed (never seen from OpenAI)
            return self._into(("tool", event.index), {}, {"type": "input_json_delta",
                                                          "partial_json": event.arguments})
        elif isinstance(event, Finish):
            self._stop, self._stop_sequence = event.reason, event.stop_sequence
            return self._start() + self._close()
        return []

    def flush(self) -> list[Event]:
        return self._terminal() if self._stop is not None and not self._closed else []

    def _start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        message: Json = {"id": self._id, "type": "message", "role": "assistant", "model": self._model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": usage_out.anthropic(self._usage)}
        return [sse({"type": "message_start", "message": message}, "message_start")]

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [sse({"type": "content_block_stop", "index": self._next_block - 1}, "content_block_stop")]

    def _into(self, key: tuple[str, int], block: Json, delta: Json | None) -> list[Event]:
        out = self._start()
        if self._open != key:
            out += self._close()
            self._open = key
            out.append(sse({"type": "content_block_start", "index": self._next_block,
                            "content_block": block}, "content_block_start"))
            self._next_block += 1
        if delta is not None:
            out.append(sse({"type": "content_block_delta", "index": self._next_block - 1, "delta": delta},
                           "content_block_delta"))
        return out

    def _terminal(self) -> list[Event]:
        out = self._start() + self._close()
        self._closed = True
        reason = stops.ANTHROPIC_OUT[self._stop] if self._stop else "end_turn"
        out.append(sse({"type": "message_delta",
                        "delta": {"stop_reason": reason, "stop_sequence": self._stop_sequence},
                        "usage": usage_out.anthropic(self._usage)}, "message_delta"))
        out.append(sse({"type": "message_stop"}, "message_stop"))
        return out
