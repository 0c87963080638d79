"""Every golden case under tests/golden/, run through the public translate functions."""

from __future__ import annotations

import dataclasses

import pytest

from tests.translate.golden import Case, cases, run_error, run_request, run_response, run_stream

DIRECTIONS = {f"{a}_to_{b}" for a in ("openai", "anthropic", "gemini")
              for b in ("openai", "anthropic", "gemini") if a != b}
# Cases every direction must have (SPEC §6 bullets); json_object has no Anthropic-door form.
EVERY_DIRECTION = ("text_system", "tool_calls", "tool_results", "tool_choice_named", "images",
                   "json_schema", "reasoning", "stop_max_tokens", "stop_content_filter", "error_overloaded",
                   "error_invalid", "stream_text", "stream_tools", "stream_reasoning", "stream_error")


def _ids(found: list[Case]) -> list[str]:
    return [c.id for c in found]


def test_every_direction_has_every_case() -> None:
    present = {(c.path.parent.name, c.path.name) for c in cases()}
    missing = [(d, n) for d in sorted(DIRECTIONS) for n in EVERY_DIRECTION if (d, n) not in present]
    assert not missing


REQUESTS = cases("caller_request.json", "upstream_request.json")


@pytest.mark.parametrize("case", REQUESTS, ids=_ids(REQUESTS))
def test_request(case: Case) -> None:
    out = run_request(case)
    assert out.body == case.json("upstream_request.json")
    assert out.dropped == case.meta.get("dropped", [])


RESPONSES = [c for c in cases("upstream_response.json", "caller_response.json") if "status" not in c.meta]


@pytest.mark.parametrize("case", RESPONSES, ids=_ids(RESPONSES))
def test_response(case: Case) -> None:
    out = run_response(case)
    assert out.body == case.json("caller_response.json")
    assert out.dropped == case.meta.get("response_dropped", [])


ERRORS = [c for c in cases("upstream_response.json", "caller_response.json") if "status" in c.meta]


@pytest.mark.parametrize("case", ERRORS, ids=_ids(ERRORS))
def test_error(case: Case) -> None:
    status, body = run_error(case)
    assert body == case.json("caller_response.json")
    assert status == case.meta["caller_status"]


STREAMS = cases("upstream_stream.sse", "caller_stream.sse")


@pytest.mark.parametrize("case", STREAMS, ids=_ids(STREAMS))
def test_stream(case: Case) -> None:
    text, relay = run_stream(case)
    assert text == case.text("caller_stream.sse")
    assert dataclasses.asdict(relay.usage) == case.meta["usage"]
    assert relay.finished is case.meta["finished"]
    failure = dataclasses.asdict(relay.failure) if relay.failure else None
    assert failure == case.meta["failure"]


@pytest.mark.parametrize("case", STREAMS, ids=_ids(STREAMS))
def test_stream_is_the_same_fed_event_by_event_or_split_anywhere(case: Case) -> None:
    """The relay sees events, not bytes; but the upstream's bytes may arrive split anywhere, so
    decode them chunked at every 7th byte and check the caller still gets the same stream."""
    from gateway import translate
    from gateway.protocols.sse import Decoder, encode

    raw = case.text("upstream_stream.sse").encode()
    decoder = Decoder()
    relay = translate.chat_stream(case.door, case.channel, model=case.model,
                                  include_usage=bool(case.meta.get("include_usage", True)), created=1700000000)
    out = []
    for start in range(0, len(raw), 7):
        for event in decoder.feed(raw[start:start + 7]):
            out.extend(relay.feed(event))
    for event in decoder.flush():
        out.extend(relay.feed(event))
    out.extend(relay.flush())
    assert "".join(encode(e).decode() for e in out) == case.text("caller_stream.sse")
