"""What a fake upstream does on its next call (scripted replies and faults, queued by the test), plus
deterministic stand-ins for a tokenizer and an embedding model."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TEXT = "Hello! This is the fake upstream speaking."


@dataclass(frozen=True, slots=True)
class Tokens:
    """Usage numbers written verbatim into the provider's own fields (no arithmetic but totals).

    input -> prompt_tokens / input_tokens / promptTokenCount; output -> completion_tokens /
    output_tokens / candidatesTokenCount; cached -> cached_tokens / cache_read_input_tokens /
    cachedContentTokenCount; reasoning -> reasoning_tokens / thoughtsTokenCount (Anthropic has none);
    cache_write -> cache_creation_input_tokens (Anthropic only). Negative or absurd values pass as they are.
    """

    input: int
    output: int
    cached: int = 0
    reasoning: int = 0
    cache_write: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model makes; `arguments` as a str is sent verbatim (may be invalid JSON)."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))

    def arguments_object(self) -> Any:
        """The arguments as a JSON value (Anthropic `input`, Gemini `args`)."""
        if isinstance(self.arguments, str):
            return json.loads(self.arguments)
        return dict(self.arguments)


@dataclass(kw_only=True)
class Behaviour:
    """One call's scripted outcome. Stream faults count frames (SSE events, JSON array elements):
    `X_after=K` fires after K frames were written (0 = before the first). A non-stream body is one
    frame: faults at 0 cut it in half (drop/truncate), corrupt it (malformed) or pause mid-body (stall).
    A Gemini JSON-array stream needs `error_event_after >= 1` (its error element follows a comma).
    """

    # the reply
    text: str = DEFAULT_TEXT
    chunks: int = 3  # how many content deltas the text is split into when streamed
    tool_calls: list[ToolCall] = field(default_factory=list)  # used only if the request declares tools
    thinking: str | None = None  # used only if the request enables thinking / reasoning
    tokens: Tokens | None = None  # None: estimated from the request and the reply
    usage_override: dict[str, Any] | None = None  # merged last into the provider's usage object
    finish_reason: str | None = None  # the provider's own value, e.g. "length", "max_tokens", "SAFETY"
    grounding: bool = False  # Gemini groundingMetadata (only with a google search tool)
    # the HTTP exchange
    status: int = 200  # non-200: an error body in the provider's shape
    error_message: str | None = None
    error_type: str | None = None  # OpenAI `type`, Anthropic `error.type`, Gemini `status`
    error_code: str | None = None  # OpenAI `code`
    error_body: Mapping[str, Any] | bytes | None = None  # replaces the whole error body
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    set_cookie: str | None = None
    gzip: bool = False
    redirect_to: str | None = None  # 302 to this URL before anything else
    stall_before_headers: float = 0.0
    # faults inside the body
    chunk_delay: float = 0.0  # pause after every frame
    stall_after: tuple[int, float] | None = None  # (K frames, seconds)
    drop_after: int | None = None  # close the connection after K frames
    reset: bool = False  # with drop_after: abort (RST) instead of close (FIN)
    truncate_after: int | None = None  # write half of frame K, then end the body cleanly
    malformed_at: int | None = None  # frame K carries broken JSON
    error_event_after: int | None = None  # the provider's mid-stream error after K frames, then end
    huge_event_bytes: int | None = None  # one extra text delta of this many bytes (e.g. 4 MiB)

    def text_pieces(self) -> list[str]:
        """The reply text as streamed deltas (the huge event, if any, is the last one)."""
        pieces = split_text(self.text, self.chunks)
        if self.huge_event_bytes:
            pieces.append("x" * self.huge_event_bytes)
        return pieces

    def full_text(self) -> str:
        return "".join(self.text_pieces())


def split_text(text: str, parts: int) -> list[str]:
    """`text` cut into `parts` non-empty pieces of near-equal length (fewer if the text is short)."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def estimate_tokens(value: Any) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token, at least 1."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, len(text) // 4)


def embedding_vector(seed_text: str, dims: int) -> list[float]:
    """A deterministic unit vector for `seed_text`, exactly representable in float32."""
    rng = random.Random(hashlib.sha256(seed_text.encode()).digest())
    raw = [rng.uniform(-1.0, 1.0) for _ in range(dims)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in raw]


class Script:
    """A queue of behaviours: each request the fake receives takes the next one, else the default."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default or Behaviour()
        self._queue: deque[Behaviour] = deque()

    def push(self, *behaviours: Behaviour) -> Script:
        self._queue.extend(behaviours)
        return self

    def reply(self, **fields: Any) -> Script:
        """Queue one behaviour built from keyword fields: `script.reply(text="hi", chunks=2)`."""
        return self.push(Behaviour(**fields))

    def fail(self, status: int, **fields: Any) -> Script:
        """Queue one error answer: `script.fail(429, retry_after="1")`."""
        return self.push(Behaviour(status=status, **fields))

    def take(self) -> Behaviour:
        return self._queue.popleft() if self._queue else self.default

    @property
    def pending(self) -> int:
        return len(self._queue)

    def clear(self) -> None:
        self._queue.clear()
