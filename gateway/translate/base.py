"""The shapes every translation and pass-through relay returns to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.protocols import Usage
from gateway.protocols.sse import Event

Json = dict[str, Any]


@dataclass(slots=True)
class UpstreamFailure:
    """An error the upstream reported inside a 200 stream or body, already in neutral terms."""

    status: int  # the HTTP status it stands for (e.g. 529 overloaded, 500)
    message: str


@dataclass(slots=True)
class Translated:
    """A converted body plus the names of fields that could not be carried (x-gateway-dropped)."""

    body: Json
    dropped: list[str] = field(default_factory=list)


class StreamRelay(Protocol):
    """One per streamed call: turns the channel's SSE events into the caller's, counting usage.

    `usage` holds the latest numbers the upstream reported (cumulative where the protocol is);
    `output_chars` counts generated text relayed in UTF-8 bytes (`estimate.utf8_len`; billed by
    `estimate.tokens_from_chars`) for when no usage ever comes;
    `failure` is set once the upstream sends an error event; `finished` once it sent its last event.
    """

    usage: Usage
    output_chars: int
    failure: UpstreamFailure | None
    finished: bool

    def feed(self, event: Event) -> list[Event]: ...

    def flush(self) -> list[Event]:
        """Events to send after the upstream stream ended (e.g. a terminal event the caller needs)."""
