"""Server-sent events: the Event type, an incremental WHATWG decoder that keeps raw bytes, and the encoder."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Event:
    """One SSE event. `raw` keeps the exact bytes received, so pass-through can relay them unchanged."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    raw: bytes | None = None


class SSEError(ValueError):
    """The upstream's event stream is unusable (an event larger than the decoder's limit)."""


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


def _one_whole_event(chunk: bytes) -> Event | None:
    """`chunk` as one event when it is exactly `data: X` or `event: E` + `data: X`, each line ending in LF,
    then a blank line, with no CR anywhere: what the general parser would make of it, found with a few
    byte searches. None for anything else (the general parser takes it)."""
    if not chunk.endswith(b"\n\n") or b"\r" in chunk:
        return None
    lines = chunk.count(b"\n")
    if lines == 2 and chunk.startswith(b"data: "):
        return Event(data=chunk[6:-2].decode("utf-8", "replace"), raw=chunk)
    if lines == 3 and chunk.startswith(b"event: "):
        first_end = chunk.index(b"\n")
        if chunk.startswith(b"data: ", first_end + 1):
            name = chunk[7:first_end].decode("utf-8", "replace")
            data = chunk[first_end + 7:-2].decode("utf-8", "replace")
            return Event(data=data, event=name or None, raw=chunk)
    return None


class Decoder:
    """Incremental SSE parser (WHATWG HTML §9.2.6): `feed(chunk)` returns the events completed so far.

    Line ends are LF, CRLF or a lone CR. A CR that ends the buffered bytes is held until the next byte
    (or `flush()`) shows whether an LF follows, so every way of splitting a stream into chunks yields the
    same events with the same `raw` bytes. `raw` runs from the end of the previous blank line to the end
    of this event's blank line (comment lines inside the event included); blocks that dispatch nothing
    (comments only, or no `data` field) are dropped with their bytes. Lines are decoded as UTF-8 only once
    complete, so a character split across chunks is never broken. `Event.id` is the `id` field given in
    that event; the WHATWG "last event ID", which persists across events, is `last_event_id`.
    """

    __slots__ = ("_buf", "_data", "_event", "_id", "_line_start", "_max", "_retry", "_scan",
                 "_started", "last_event_id")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._buf = bytearray()  # starts at the first byte of the event being read
        self._line_start = 0  # first byte of the current, incomplete line
        self._scan = 0  # bytes before this offset hold no line end still to be handled
        self._started = False  # the leading byte-order mark has been dealt with
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._id: bytes | None = None
        self._retry: int | None = None
        self.last_event_id = ""

    def feed(self, chunk: bytes) -> list[Event]:
        """Add received bytes; return the events they complete."""
        if self._started and not self._buf and len(chunk) <= self._max:
            whole = _one_whole_event(chunk)  # the usual read: exactly one event, nothing pending
            if whole is not None:
                return [whole]
        self._buf += chunk
        if not self._started and not self._skip_bom(final=False):
            return []
        events = self._parse(final=False)
        if len(self._buf) > self._max:
            raise SSEError(f"server-sent event larger than {self._max} bytes")
        return events

    def flush(self) -> list[Event]:
        """The stream ended: settle a held-back CR and drop an unterminated event (WHATWG says so)."""
        events: list[Event] = []
        if self._started or self._skip_bom(final=True):
            events = self._parse(final=True)
        self._buf = bytearray()
        self._line_start = self._scan = 0
        self._reset_fields()
        return events

    def _skip_bom(self, final: bool) -> bool:
        """Step over one leading UTF-8 BOM (kept in the first event's `raw`); False while undecided."""
        head = bytes(self._buf[:3])
        if head == _BOM:
            self._line_start = self._scan = 3
        elif not final and _BOM.startswith(head):
            return False
        self._started = True
        return True

    def _parse(self, final: bool) -> list[Event]:
        buf = self._buf
        end_of_buf = len(buf)
        pos = self._scan
        next_cr = buf.find(b"\r", pos)
        next_lf = buf.find(b"\n", pos)
        events: list[Event] = []
        line_start = self._line_start
        block_start = 0  # where the current event's raw bytes begin
        while next_cr >= 0 or next_lf >= 0:
            if next_lf >= 0 and (next_cr < 0 or next_lf < next_cr):
                line_end, after = next_lf, next_lf + 1
            elif next_cr == end_of_buf - 1 and not final:
                break  # a CR with nothing after it yet: it may be the first half of CRLF
            else:
                line_end = next_cr
                after = next_cr + 2 if next_lf == next_cr + 1 else next_cr + 1
            if line_end == line_start:
                if after - block_start > self._max:
                    raise SSEError(f"server-sent event larger than {self._max} bytes")
                event = self._dispatch(bytes(buf[block_start:after]))
                if event is not None:
                    events.append(event)
                block_start = after
            elif buf.startswith(b"data: ", line_start):  # the common line, without a slice copy
                self._data.append(bytes(buf[line_start + 6:line_end]))
            else:
                self._field(buf[line_start:line_end])
            line_start = after
            if next_cr >= 0 and next_cr < after:
                next_cr = buf.find(b"\r", after)
            if next_lf >= 0 and next_lf < after:
                next_lf = buf.find(b"\n", after)
        if final:
            return events
        scan_to = end_of_buf - 1 if end_of_buf and buf[-1] == 0x0D and line_start < end_of_buf else end_of_buf
        if block_start:
            del buf[:block_start]
        self._line_start = line_start - block_start
        self._scan = max(scan_to - block_start, self._line_start)
        return events

    def _field(self, line: bytearray) -> None:
        colon = line.find(b":")
        if colon == 0:
            return  # a comment
        if colon < 0:
            name, value = bytes(line), b""
        else:
            name = bytes(line[:colon])
            start = colon + 2 if line[colon + 1:colon + 2] == b" " else colon + 1
            value = bytes(line[start:])
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id":
            if b"\x00" not in value:
                self._id = value
                self.last_event_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, raw: bytes) -> Event | None:
        if not self._data:
            self._reset_fields()
            return None
        data = b"\n".join(self._data).decode("utf-8", "replace")
        event = Event(data=data,
                      event=self._event.decode("utf-8", "replace") if self._event else None,
                      id=self._id.decode("utf-8", "replace") if self._id is not None else None,
                      retry=self._retry, raw=raw)
        self._reset_fields()
        return event

    def _reset_fields(self) -> None:
        self._data = []
        self._event = None
        self._id = None
        self._retry = None
