"""The rate limiter on its own, with a hand-driven clock: windows, Retry-After, tpm correction, reloads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.config.models import Token
from gateway.ratelimit import RateLimited, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_token(name: str = "alice", **limits: Any) -> Token:
    data = {"channels": [], "tokens": [{"name": name, "key": f"sk-{name}-0123456789", "unlimited": True,
                                        **limits}]}
    return parse_config(json.dumps(data), env={}).tokens[0]


def test_rpm_allows_that_many_in_any_minute_and_says_when_the_oldest_leaves() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    token = make_token(rpm=3)
    for at in (1000.0, 1010.0, 1030.0):
        clock.now = at
        limiter.finish(limiter.admit(token, 10))
    clock.now = 1050.0
    with pytest.raises(RateLimited) as refused:
        limiter.admit(token, 10)
    assert (refused.value.limit, refused.value.retry_after) == ("rpm", 10)  # the call at 1000 leaves at 1060
    clock.now = 1059.2
    with pytest.raises(RateLimited) as refused:
        limiter.admit(token, 10)
    assert refused.value.retry_after == 1  # 0.8 s rounds up, never 0
    clock.now = 1060.0
    limiter.admit(token, 10)  # the first call left the window
    with pytest.raises(RateLimited) as refused:
        limiter.admit(token, 10)
    assert refused.value.retry_after == 10  # next to leave: the call at 1010
    assert "Please try again in 10s" in refused.value.message


def test_a_refused_call_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    token = make_token(rpm=1, max_concurrent=5)
    limiter.admit(token, 0)
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.admit(token, 0)
    assert limiter.in_flight("alice") == 1
    clock.now += 60
    limiter.admit(token, 0)


def test_max_concurrent_counts_calls_until_they_finish() -> None:
    limiter = RateLimiter(Clock())
    token = make_token(max_concurrent=2)
    first, second = limiter.admit(token, 0), limiter.admit(token, 0)
    with pytest.raises(RateLimited) as refused:
        limiter.admit(token, 0)
    assert (refused.value.limit, refused.value.retry_after) == ("concurrency", 1)
    limiter.finish(first)
    limiter.finish(first)  # finishing twice frees one slot only
    third = limiter.admit(token, 0)
    with pytest.raises(RateLimited):
        limiter.admit(token, 0)
    limiter.finish(second)
    limiter.finish(third)
    assert limiter.in_flight("alice") == 0


def test_tpm_counts_the_estimate_then_what_was_billed() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    token = make_token(tpm=1000)
    big = limiter.admit(token, 900)  # estimate: prompt + max output
    with pytest.raises(RateLimited) as refused:
        limiter.admit(token, 200)
    assert refused.value.limit == "tpm" and refused.value.retry_after == 60
    clock.now += 5
    limiter.correct(big, 120)  # the call used far less than it might have
    limiter.finish(big)
    small = limiter.admit(token, 800)  # 120 + 800 fits
    limiter.finish(small)  # released without billing: its estimate goes
    limiter.admit(token, 850)
    with pytest.raises(RateLimited) as refused:
        limiter.admit(token, 100)
    # the 120 billed at 1005 leave at 1065: then 850 + 100 fits
    assert refused.value.retry_after == 60


def test_tpm_lets_one_call_larger_than_the_limit_through_an_empty_window() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    token = make_token(tpm=100)
    ticket = limiter.admit(token, 5000)
    limiter.correct(ticket, 3000)
    limiter.finish(ticket)
    with pytest.raises(RateLimited):
        limiter.admit(token, 1)
    clock.now += 60
    limiter.admit(token, 5000)


def test_a_correction_after_the_estimate_left_the_window_takes_nothing_back_twice() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    token = make_token(tpm=1000)
    long_call = limiter.admit(token, 600)
    clock.now += 61  # the estimate expired while the call streamed
    other = limiter.admit(token, 900)
    limiter.correct(long_call, 50)  # billed now: 900 + 50 in the window
    with pytest.raises(RateLimited) as refused:
        limiter.admit(token, 100)
    assert "used 950" in refused.value.message
    limiter.finish(other)
    limiter.admit(token, 900)  # 50 + 900


def test_limits_are_per_token_and_tokens_without_limits_take_no_state() -> None:
    limiter = RateLimiter(Clock())
    alice, bob, free = make_token("alice", rpm=1), make_token("bob", rpm=1), make_token("free")
    limiter.admit(alice, 0)
    with pytest.raises(RateLimited):
        limiter.admit(alice, 0)
    limiter.admit(bob, 0)
    for _ in range(100):
        limiter.admit(free, 10**9)
    assert limiter.in_flight("free") == 0


def test_state_survives_a_reload_and_new_limits_apply_to_it() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.admit(make_token(rpm=2), 0)
    limiter.admit(make_token(rpm=2), 0)
    limiter.retain(["alice"])  # a reload that keeps alice, now with rpm 3
    limiter.admit(make_token(rpm=3), 0)
    with pytest.raises(RateLimited):
        limiter.admit(make_token(rpm=3), 0)
    limiter.retain(["bob"])  # alice removed, then back: a fresh start
    limiter.admit(make_token(rpm=1), 0)
