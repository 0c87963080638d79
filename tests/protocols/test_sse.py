"""The SSE decoder: WHATWG parsing rules, byte-exact `raw`, and independence from how bytes are chunked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocols.sse import Decoder, Event, SSEError, encode

# Every line-ending style, comments, a BOM, multibyte text (2-, 3- and 4-byte characters), multi-line
# data, all fields, an unknown field, blocks that dispatch nothing, and an unterminated tail.
MIXED = (
    b"\xef\xbb\xbf: opening comment\r\n"
    b"data: first\r\n\r\n"
    b"event: message_start\ndata: {\"text\": \"h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\"}\n\n"
    b"data: line one\rdata:line two\r: inner comment\rdata:  two spaces\r\r"
    b"id: 42\nretry: 3000\nfoo: bar\ndata\n\n"
    b": keepalive\n\n"
    b"event: ping\n\n"
    b"retry: soon\nid: a\x00b\ndata: mixed endings\r\ndata: more\n\r"
    b"data: \xe2\x82\xac after CR-terminated block\r\n\r\n"
    b"data: never finished"
)

MIXED_EVENTS = [
    Event(data="first", raw=b"\xef\xbb\xbf: opening comment\r\ndata: first\r\n\r\n"),
    Event(data='{"text": "héllo 世界 😀"}', event="message_start",
          raw=b"event: message_start\ndata: " + '{"text": "héllo 世界 😀"}'.encode() + b"\n\n"),
    Event(data="line one\nline two\n two spaces",
          raw=b"data: line one\rdata:line two\r: inner comment\rdata:  two spaces\r\r"),
    Event(data="", id="42", retry=3000, raw=b"id: 42\nretry: 3000\nfoo: bar\ndata\n\n"),
    Event(data="mixed endings\nmore", raw=b"retry: soon\nid: a\x00b\ndata: mixed endings\r\ndata: more\n\r"),
    Event(data="€ after CR-terminated block", raw=b"data: \xe2\x82\xac after CR-terminated block\r\n\r\n"),
]


def decode_in_pieces(stream: bytes, cuts: list[int], **kwargs: int) -> list[Event]:
    decoder = Decoder(**kwargs)
    events: list[Event] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        events += decoder.feed(stream[start:cut])
        start = cut
    return events + decoder.flush()


def decode_bytewise(stream: bytes) -> list[Event]:
    decoder = Decoder()
    events: list[Event] = []
    for i in range(len(stream)):
        events += decoder.feed(stream[i:i + 1])
    return events + decoder.flush()


def test_mixed_stream_follows_whatwg_rules_and_keeps_raw_bytes() -> None:
    assert decode_in_pieces(MIXED, []) == MIXED_EVENTS


def test_mixed_stream_split_at_every_boundary_gives_the_same_events() -> None:
    for cut in range(len(MIXED) + 1):
        assert decode_in_pieces(MIXED, [cut]) == MIXED_EVENTS, f"split at {cut}"
    assert decode_bytewise(MIXED) == MIXED_EVENTS


def test_mixed_stream_split_at_every_pair_of_boundaries() -> None:
    for first in range(0, len(MIXED) + 1, 3):
        for second in range(first, len(MIXED) + 1, 7):
            assert decode_in_pieces(MIXED, [first, second]) == MIXED_EVENTS, (first, second)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(MIXED)), max_size=40))
def test_mixed_stream_random_many_way_splits(cuts: list[int]) -> None:
    assert decode_in_pieces(MIXED, cuts) == MIXED_EVENTS


BIG_TEXT = ("x" * 1000 + "é世😀") * 1100  # > 1 MiB of UTF-8 in one data line
BIG_STREAM = (b"data: small\r\n\r\n" + b"event: big\r\ndata: " + BIG_TEXT.encode() + b"\r\n\r\n"
              + b"data: after\r\r")
BIG_EVENTS = [
    Event(data="small", raw=b"data: small\r\n\r\n"),
    Event(data=BIG_TEXT, event="big", raw=b"event: big\r\ndata: " + BIG_TEXT.encode() + b"\r\n\r\n"),
    Event(data="after", raw=b"data: after\r\r"),
]


def test_one_mebibyte_event_fed_byte_by_byte() -> None:
    assert len(BIG_TEXT.encode()) > 1024 * 1024
    assert decode_bytewise(BIG_STREAM) == BIG_EVENTS


def test_one_mebibyte_event_split_around_every_interesting_boundary() -> None:
    big_start = BIG_STREAM.index(b"event: big")
    big_end = BIG_STREAM.index(b"data: after")
    first_emoji = BIG_STREAM.index("😀".encode())
    cuts = [*range(big_start - 3, big_start + 20), *range(first_emoji - 2, first_emoji + 5),
            *range(big_end - 5, big_end + 3), *range(len(BIG_STREAM) - 3, len(BIG_STREAM) + 1)]
    for cut in cuts:
        assert decode_in_pieces(BIG_STREAM, [cut]) == BIG_EVENTS, f"split at {cut}"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, len(BIG_STREAM)), max_size=200))
def test_one_mebibyte_event_random_many_way_splits(cuts: list[int]) -> None:
    assert decode_in_pieces(BIG_STREAM, cuts) == BIG_EVENTS


# Generated streams: events built from arbitrary text and line endings decode back to themselves.
_line_text = st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=30)
_event = st.tuples(
    st.lists(_line_text, min_size=1, max_size=4),  # data lines
    st.none() | _line_text.filter(lambda s: s != "" and not s.startswith(" ")),  # event name
    st.none() | _line_text,  # a comment line
    st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=8, max_size=8),  # line endings to use
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_event, max_size=6), st.data())
def test_generated_streams_round_trip(
        events: list[tuple[list[str], str | None, str | None, list[str]]], data: st.DataObject) -> None:
    stream = b""
    expected: list[Event] = []
    for data_lines, name, comment, ending_list in events:
        endings = iter(ending_list)
        lines = [f":{comment}"] if comment is not None else []
        lines += [f"event: {name}"] if name is not None else []
        lines += [f"data: {line}" for line in data_lines]
        raw = "".join(line + next(endings) for line in lines)
        blank = next(endings)
        raw += "\r" if raw.endswith("\r") and blank == "\n" else blank  # keep CR + LF two line ends
        stream += raw.encode()
        expected.append(Event(data="\n".join(data_lines), event=name, raw=raw.encode()))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert decode_in_pieces(stream, cuts) == expected


def test_field_rules() -> None:
    stream = (b"data:no space\n\n"
              b"data:\n\n"
              b"data: a\ndata: b\nevent:\n\n"
              b"retry: 12x\nretry: 50\nid\ndata: x\n\n"
              b"DATA: wrong case\n\n"
              b"data: y\nevent: named\nevent: renamed\n\n")
    events = decode_in_pieces(stream, [])
    assert [(e.data, e.event, e.id, e.retry) for e in events] == [
        ("no space", None, None, None),
        ("", None, None, None),
        ("a\nb", None, None, None),
        ("x", None, "", 50),
        ("y", "renamed", None, None),
    ]


def test_last_event_id_persists_across_events_but_event_id_is_per_event() -> None:
    decoder = Decoder()
    first, second = decoder.feed(b"id: 7\ndata: a\n\ndata: b\n\n")
    assert (first.id, second.id) == ("7", None)
    assert decoder.last_event_id == "7"


def test_unterminated_event_is_dropped_at_flush_and_cr_is_settled() -> None:
    decoder = Decoder()
    assert decoder.feed(b"data: done\r\r") == []  # the last CR could still be half of CRLF
    assert decoder.flush() == [Event(data="done", raw=b"data: done\r\r")]
    decoder = Decoder()
    assert decoder.feed(b"data: half") == []
    assert decoder.flush() == []


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    (event,) = decode_in_pieces(b"data: \xff\xfe ok\n\n", [])
    assert event.data == "\ufffd\ufffd ok"


def test_max_event_size() -> None:
    limit = 64
    exact = b"data: " + b"x" * (limit - 8) + b"\n\n"
    assert len(exact) == limit
    assert decode_in_pieces(exact, [], max_event_bytes=limit)[0].raw == exact
    over = b"data: " + b"x" * (limit - 7) + b"\n\n"
    with pytest.raises(SSEError):
        decode_in_pieces(over, [], max_event_bytes=limit)
    with pytest.raises(SSEError):
        decode_in_pieces(over, [10, 40], max_event_bytes=limit)
    with pytest.raises(SSEError):  # an endless line without a blank line is caught while it grows
        Decoder(max_event_bytes=limit).feed(b"data: " + b"x" * 100)
    many = exact * 50  # many events in one chunk, each within the limit, are fine
    assert len(decode_in_pieces(many, [], max_event_bytes=limit)) == 50


def test_encode_uses_raw_or_renders_fields() -> None:
    assert encode(Event(data="x", raw=b"data:x\r\n\r\n")) == b"data:x\r\n\r\n"
    rendered = encode(Event(data="a\nb", event="error", id="1", retry=5))
    assert rendered == b"event: error\nid: 1\nretry: 5\ndata: a\ndata: b\n\n"
    assert decode_in_pieces(rendered, []) == [Event(data="a\nb", event="error", id="1", retry=5,
                                                    raw=rendered)]


_value = st.text(st.sampled_from(list("ab: é\r")), max_size=6)
_line = st.tuples(st.sampled_from(["data: ", "data:", "event: ", "event:", "id: ", ": ", "retry: ", ""]), _value)


@settings(max_examples=400, deadline=None)
@given(st.lists(_line, min_size=1, max_size=3), st.sampled_from(["\n\n", "\n", "\r\n\r\n", "\n\n\n", ""]))
def test_a_read_holding_one_whole_event_decodes_as_the_general_parser_would(
        lines: list[tuple[str, str]], ending: str) -> None:
    # A read that is exactly one event takes a shortcut; feeding the same bytes in two pieces does not.
    chunk = "\n".join(prefix + value for prefix, value in lines).encode() + ending.encode()
    whole, pieces = Decoder(), Decoder()
    for decoder in (whole, pieces):
        assert decoder.feed(b"data: opening\n\n") == [Event(data="opening", raw=b"data: opening\n\n")]
    at_once = whole.feed(chunk) + whole.feed(b"data: next\n\n") + whole.flush()
    in_two = pieces.feed(chunk[:1]) + pieces.feed(chunk[1:]) + pieces.feed(b"data: next\n\n") + pieces.flush()
    assert at_once == in_two
    assert whole.last_event_id == pieces.last_event_id


def test_the_usual_reads_are_single_events() -> None:
    decoder = Decoder()
    decoder.feed(b": hello\n\n")
    assert decoder.feed(b'data: {"a":1}\n\n') == [Event(data='{"a":1}', raw=b'data: {"a":1}\n\n')]
    assert decoder.feed(b"event: ping\ndata: {}\n\n") == [Event(data="{}", event="ping",
                                                                 raw=b"event: ping\ndata: {}\n\n")]
    assert decoder.feed(b"event: \ndata: x\n\n") == [Event(data="x", raw=b"event: \ndata: x\n\n")]
