"""Server-sent events: the Event type (decoder and encoder are filled in by the SSE codec work)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Event:
    """One SSE event. `raw` keeps the exact bytes received, so pass-through can relay them unchanged."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    raw: bytes | None = None


def encode(event: Event) -> bytes:
    """The wire form of `event`, `raw` if it has one."""
    if event.raw is not None:
        return event.raw
    parts: list[str] = []
    if event.event is not None:
        parts.append(f"event: {event.event}\n")
    if event.id is not None:
        parts.append(f"id: {event.id}\n")
    if event.retry is not None:
        parts.append(f"retry: {event.retry}\n")
    for line in event.data.split("\n"):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode()
