"""The translating stream relay: a channel decoder and a door encoder joined, counting usage on the way."""

from __future__ import annotations

from typing import Protocol as Interface

from gateway.protocols import Usage
from gateway.protocols.sse import Event
from gateway.translate.base import UpstreamFailure
from gateway.translate.neutral import (
    Finish,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)


class Decoder(Interface):
    def feed(self, event: Event) -> list[StreamEvent]: ...
    def flush(self) -> list[StreamEvent]: ...


class Encoder(Interface):
    def encode(self, event: StreamEvent) -> list[Event]: ...
    def flush(self) -> list[Event]: ...


class _Accounting:
    """Usage, generated text (UTF-8 bytes, as the pass-through relays count it), failure and end."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.output_chars = 0
        self.failure: UpstreamFailure | None = None
        self.finished = False

    def _count(self, event: StreamEvent) -> None:
        if isinstance(event, UsageUpdate):
            self.usage = event.usage
        elif isinstance(event, TextDelta | ThinkingDelta):
            self.output_chars += len(event.text.encode())
        elif isinstance(event, ToolCallDelta):
            self.output_chars += len(event.arguments.encode())
        elif isinstance(event, ToolCallStart):
            self.output_chars += len(event.name.encode())
        elif isinstance(event, Finish):
            self.finished = True
        elif isinstance(event, StreamError) and self.failure is None:
            self.failure = UpstreamFailure(event.status, event.message)


class TranslatingRelay(_Accounting):
    """Channel events in, caller events out (a StreamRelay). After an upstream error event the caller
    gets its own protocol's error event and nothing more."""

    def __init__(self, decoder: Decoder, encoder: Encoder) -> None:
        super().__init__()
        self._decoder = decoder
        self._encoder = encoder

    def feed(self, event: Event) -> list[Event]:
        return self._relay(self._decoder.feed(event))

    def flush(self) -> list[Event]:
        return self._relay(self._decoder.flush()) + self._encoder.flush()

    def _relay(self, events: list[StreamEvent]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            self._count(event)
            out.extend(self._encoder.encode(event))
        return out
