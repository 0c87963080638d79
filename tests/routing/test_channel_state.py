"""Channel state with an injected clock: cooldowns, Retry-After, key set-aside and rotation, reporting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from gateway.channel_state import ChannelState, parse_retry_after

from .builders import make_channel

NOW = 1_700_000_000.0
KEYS = ["sk-live-aaaaaaaa", "sk-live-bbbbbbbb", "sk-live-cccccccc"]


def fail(state: ChannelState, channel, status, *, now=NOW, key_index=None, cooldown=30.0, **kw):  # type: ignore[no-untyped-def]
    return state.record_failure(channel, "gpt-4o", now=now, status=status, message="boom",
                                key_index=key_index, cooldown=cooldown, **kw)


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 529])
def test_cooldown_after_retriable_failure_then_expires(status: int | None) -> None:
    ch = make_channel("a", ["gpt-*"])
    state = ChannelState()
    events = fail(state, ch, status)
    assert [e.name for e in events] == ["channel_error", "channel_cooldown_started"]
    assert events[1].fields["seconds"] == 30 and events[1].fields["retry_after"] is False
    assert state.cooling_until(ch, "gpt-4o", NOW + 29.9) == NOW + 30
    assert state.cooling_until(ch, "gpt-4.1", NOW) is None  # other models unaffected
    assert state.cooling_until(ch, "gpt-4o", NOW + 30) is None  # back by itself
    assert [e.name for e in state.expire(NOW + 30)] == ["channel_cooldown_ended"]
    assert state.expire(NOW + 31) == []


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_caller_errors_do_not_cool(status: int) -> None:
    ch = make_channel("a", ["gpt-*"])
    state = ChannelState()
    assert [e.name for e in fail(state, ch, status)] == ["channel_error"]
    assert state.cooling_until(ch, "gpt-4o", NOW) is None


@pytest.mark.parametrize(("header", "ms", "expected"), [
    ("7", None, 7.0),
    ("0", None, 0.0),
    ("2.5", None, 2.5),
    (format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True), None, 90.0),
    (format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True), None, 0.0),  # past date
    ("Wed, 21 Oct 2015 07:28:00", None, 0.0),  # no zone: read as UTC, long past
    (None, "1500", 1.5),  # OpenAI's retry-after-ms wins
    ("7", "250", 0.25),
    ("soon", None, None),
    ("-3", None, None),
    ("nan", None, None),
    (None, None, None),
    ("", "x", None),
])
def test_parse_retry_after(header: str | None, ms: str | None, expected: float | None) -> None:
    got = parse_retry_after(header, NOW, milliseconds=ms)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_retry_after_is_honoured_and_capped() -> None:
    ch = make_channel("a", ["gpt-*"])
    state = ChannelState(max_cooldown_seconds=600)
    events = fail(state, ch, 429, retry_after="120")
    assert events[1].fields["seconds"] == 120 and events[1].fields["retry_after"] is True
    assert state.cooling_until(ch, "gpt-4o", NOW) == NOW + 120
    date = format_datetime(datetime.fromtimestamp(NOW + 45, UTC), usegmt=True)
    other = make_channel("b", ["gpt-*"])
    fail(state, other, 503, retry_after=date)
    assert state.cooling_until(other, "gpt-4o", NOW) == pytest.approx(NOW + 45)
    third = make_channel("c", ["gpt-*"])
    fail(state, third, 429, retry_after="86400")
    assert state.cooling_until(third, "gpt-4o", NOW) == NOW + 600


def test_a_shorter_cooldown_does_not_shorten_a_longer_one() -> None:
    ch = make_channel("a", ["gpt-*"])
    state = ChannelState()
    fail(state, ch, 429, retry_after="100")
    fail(state, ch, 500, now=NOW + 1, cooldown=5)
    assert state.cooling_until(ch, "gpt-4o", NOW + 50) == NOW + 100


def test_success_ends_a_cooldown_and_tracks_latency() -> None:
    ch = make_channel("a", ["gpt-*"])
    state = ChannelState(latency_alpha=0.5)
    fail(state, ch, 500)
    events = state.record_success(ch, "gpt-4o", now=NOW + 1, latency=1.0)
    assert [(e.name, e.fields["reason"]) for e in events] == [("channel_cooldown_ended", "success")]
    assert state.cooling_until(ch, "gpt-4o", NOW + 1) is None
    state.record_success(ch, "gpt-4o", now=NOW + 2, latency=3.0)
    snap = state.snapshot([ch], NOW + 2)["channels"][0]
    assert snap["latency_ms"] == 2000.0 and snap["successes"] == 2 and snap["failures"] == 1
    assert snap["last_success"] == "2023-11-14T22:13:22Z"


def test_keys_rotate_round_robin_and_refused_keys_are_set_aside() -> None:
    ch = make_channel("a", ["gpt-*"], keys=KEYS)
    state = ChannelState(key_set_aside_seconds=600)
    picks = [state.next_key(ch, NOW) for _ in range(4)]
    assert [p[0] for p in picks if p] == [0, 1, 2, 0]
    assert picks[1] is not None and picks[1][1] is not None
    assert picks[1][1].get_secret_value() == KEYS[1]

    events = fail(state, ch, 401, key_index=1)
    assert [e.name for e in events] == ["channel_error", "channel_key_set_aside"]
    assert state.cooling_until(ch, "gpt-4o", NOW) is None  # a bad key does not cool the channel
    assert [state.next_key(ch, NOW)[0] for _ in range(4)] == [2, 0, 2, 0]  # type: ignore[index]

    events = fail(state, ch, 403, key_index=0) + fail(state, ch, 401, key_index=2)
    assert events[-1].name == "channel_keys_exhausted"
    assert state.next_key(ch, NOW) is None and not state.has_usable_key(ch, NOW)

    # Set-aside keys come back by themselves after key_set_aside_seconds.
    assert state.usable_keys(ch, NOW + 600) == [0, 1, 2]
    restored = state.expire(NOW + 600)
    assert sorted(e.fields["key_index"] for e in restored if e.name == "channel_key_restored") == [0, 1, 2]


def test_a_reloaded_key_at_the_same_position_is_usable_at_once() -> None:
    ch = make_channel("a", ["gpt-*"], keys=KEYS[:2])
    state = ChannelState()
    fail(state, ch, 401, key_index=0)
    assert state.usable_keys(ch, NOW) == [1]
    replaced = make_channel("a", ["gpt-*"], keys=["sk-live-new-key-0", KEYS[1]])
    assert state.usable_keys(replaced, NOW) == [0, 1]
    unchanged = make_channel("a", ["gpt-*"], keys=KEYS[:2], priority=3)
    assert state.usable_keys(unchanged, NOW) == [1]


def test_channel_without_keys_sends_no_credential() -> None:
    ch = make_channel("local", ["*"], keys=[])
    state = ChannelState()
    assert state.next_key(ch, NOW) == (None, None)
    assert state.has_usable_key(ch, NOW)
    assert [e.name for e in fail(state, ch, 401, key_index=None)] == ["channel_error"]


def test_retain_drops_state_of_removed_channels_only() -> None:
    a, b = make_channel("a", ["*"]), make_channel("b", ["*"])
    state = ChannelState()
    fail(state, a, 500)
    fail(state, b, 500)
    state.retain(["a", "c"])
    assert state.cooling_until(a, "gpt-4o", NOW) == NOW + 30
    assert state.cooling_until(b, "gpt-4o", NOW) is None


def test_recent_errors_are_bounded_scrubbed_and_never_hold_a_key() -> None:
    ch = make_channel("a", ["gpt-*"], keys=KEYS[:1])
    state = ChannelState(recent_errors=3)
    for i in range(5):
        state.record_failure(ch, "gpt-4o", now=NOW + i, status=500, key_index=0, cooldown=1,
                             message=f"#{i} Incorrect API key provided: {KEYS[0]} at /v1?key=AIzaSECRET&x=1"
                                     + "x" * 500)
    fail(state, ch, 401, key_index=0)
    snap = state.snapshot([ch], NOW + 10)
    text = json.dumps(snap)
    assert KEYS[0] not in text and "AIzaSECRET" not in text
    errors = snap["channels"][0]["recent_errors"]
    assert len(errors) == 3 and errors[0]["status"] == 401  # newest first
    assert errors[1]["message"].startswith("#4 Incorrect API key provided: *** at /v1?key=***&x=1")
    assert all(len(e["message"]) <= 300 for e in errors)
    entry = snap["channels"][0]
    assert entry["keys"] == {"total": 1, "usable": 0,
                             "set_aside": [{"index": 0, "until": "2023-11-14T23:13:20Z"}]}


def test_snapshot_lists_every_configured_channel_and_live_cooldowns() -> None:
    a, b = make_channel("a", ["*"]), make_channel("b", ["*"], type="gemini", enabled=False)
    state = ChannelState()
    fail(state, a, 429, retry_after="10")
    snap = state.snapshot([a, b], NOW + 4)["channels"]
    assert [c["name"] for c in snap] == ["a", "b"]
    assert snap[0]["cooldowns"] == [{"model": "gpt-4o", "until": "2023-11-14T22:13:30Z", "seconds_left": 6.0}]
    assert snap[1] | {"recent_errors": []} == {
        "name": "b", "type": "gemini", "enabled": False, "priority": 0, "weight": 1,
        "keys": {"total": 1, "usable": 1, "set_aside": []}, "cooldowns": [], "latency_ms": None,
        "successes": 0, "failures": 0, "last_success": None, "recent_errors": []}
    assert state.snapshot([a], NOW + 10)["channels"][0]["cooldowns"] == []
