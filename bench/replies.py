"""Byte-exact canned replies of the fake upstreams: OpenAI, Anthropic and Gemini, whole or as SSE events.

A model name carries the shape of its stream: `<name>[-n<chunks>][-p<pace_ms>]`, e.g. `gpt-4o-mini-n200-p2`
is 200 content chunks, 2 ms apart. Without a suffix: the server's default chunk count, no pause (a burst).
Every reply is built once per (protocol, model, stream, usage) and then only written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_SHAPE = re.compile(r"-n(\d+)|-p(\d+(?:\.\d+)?)")
PROMPT_TOKENS = 24
CREATED = 1_750_000_000


@dataclass(frozen=True, slots=True)
class Shape:
    chunks: int
    pace_ms: float


def shape_of(model: str, default_chunks: int) -> Shape:
    chunks, pace = default_chunks, 0.0
    for match in _SHAPE.finditer(model):
        if match.group(1):
            chunks = max(1, int(match.group(1)))
        else:
            pace = float(match.group(2))
    return Shape(chunks, pace)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _words(count: int) -> list[str]:
    return [f"word{i} " for i in range(count)]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    payload = data if isinstance(data, bytes) else _dumps(data)
    return head + b"data: " + payload + b"\n\n"


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete answer: `whole` for JSON; for a stream, `head` at once, then each of `steps` (one content
    chunk each) `pace_ms` apart, `tail` with the last step. With no pace everything is one write."""

    content_type: str
    whole: bytes | None = None
    head: bytes = b""
    steps: tuple[bytes, ...] = ()
    tail: bytes = b""
    pace_ms: float = 0.0


# ---- OpenAI chat completions

def _openai_usage(completion: int) -> dict[str, Any]:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion,
            "total_tokens": PROMPT_TOKENS + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def openai(model: str, stream: bool, include_usage: bool, shape: Shape) -> Reply:
    words = _words(shape.chunks)
    base = {"id": "chatcmpl-BenchFake0000000000000001", "created": CREATED, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_bench0001"}
    if not stream:
        whole = {**base, "object": "chat.completion",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words),
                                                      "refusal": None, "annotations": []},
                              "logprobs": None, "finish_reason": "stop"}],
                 "usage": _openai_usage(len(words))}
        return Reply("application/json", whole=_dumps(whole))
    chunk = {**base, "object": "chat.completion.chunk"}
    extra = {"usage": None} if include_usage else {}

    def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}
        return _sse({**chunk, "choices": [choice], **extra})

    tail = delta({}, "stop")
    if include_usage:
        tail += _sse({**chunk, "choices": [], "usage": _openai_usage(len(words))})
    head = delta({"role": "assistant", "content": "", "refusal": None})
    return Reply("text/event-stream; charset=utf-8", head=head,
                 steps=tuple(delta({"content": w}) for w in words), tail=tail + _sse(b"[DONE]"),
                 pace_ms=shape.pace_ms)


# ---- Anthropic messages

def _anthropic_usage(output: int) -> dict[str, Any]:
    return {"input_tokens": PROMPT_TOKENS, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "output_tokens": output}


def anthropic(model: str, stream: bool, shape: Shape) -> Reply:
    words = _words(shape.chunks)
    message = {"id": "msg_01BenchFake00000000000001", "type": "message", "role": "assistant", "model": model,
               "content": [{"type": "text", "text": "".join(words)}], "stop_reason": "end_turn",
               "stop_sequence": None, "usage": _anthropic_usage(len(words))}
    if not stream:
        return Reply("application/json", whole=_dumps(message))
    start = {**message, "content": [], "stop_reason": None, "usage": _anthropic_usage(1)}
    head = (_sse({"type": "message_start", "message": start}, "message_start")
            + _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   "content_block_start")
            + _sse({"type": "ping"}, "ping"))
    steps = tuple(_sse({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": w}}, "content_block_delta") for w in words)
    tail = (_sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            + _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                          "usage": _anthropic_usage(len(words))}, "message_delta")
            + _sse({"type": "message_stop"}, "message_stop"))
    return Reply("text/event-stream; charset=utf-8", head=head, steps=steps, tail=tail, pace_ms=shape.pace_ms)


# ---- Gemini generateContent / streamGenerateContent?alt=sse

def _gemini_envelope(model: str, text: str, output: int, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if final:
        candidate["finishReason"] = "STOP"
    candidate["index"] = 0
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": output,
                              "totalTokenCount": PROMPT_TOKENS + output,
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}]},
            "modelVersion": model, "responseId": "BenchFakeResponse0001"}


def gemini(model: str, stream: bool, shape: Shape) -> Reply:
    words = _words(shape.chunks)
    if not stream:
        return Reply("application/json; charset=UTF-8",
                     whole=_dumps(_gemini_envelope(model, "".join(words), len(words), True)))
    steps = tuple(_sse(_gemini_envelope(model, w, i + 1, i == len(words) - 1)) for i, w in enumerate(words))
    return Reply("text/event-stream", steps=steps, pace_ms=shape.pace_ms)
