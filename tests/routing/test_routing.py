"""Candidate selection and ordering (SPEC §5), driven by tables of real config models."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway import routing
from gateway.channel_state import ChannelState
from gateway.config.models import Channel, GatewayConfig
from gateway.protocols import Protocol
from gateway.routing import Verdict

from .builders import make_channel, make_config

NOW = 1_000_000.0

POOL: dict[str, Channel] = {c.name: c for c in [
    make_channel("exact", ["gpt-4o"]),
    make_channel("glob-long", ["gpt-4o*"]),
    make_channel("glob-short", ["gpt-*"]),
    make_channel("catchall", ["*"]),
    make_channel("catchall-p5", ["*"], priority=5),
    make_channel("high", ["gpt-4o-mini"], priority=10),
    make_channel("vip-only", ["gpt-4o"], groups=["vip"]),
    make_channel("off", ["claude-*"], enabled=False),
    make_channel("claude-a", ["claude-*"], type="anthropic"),
    make_channel("gem", ["gpt-4o", "text-embedding-*"], type="gemini"),
    make_channel("mapped", ["gpt-4", "o*"], model_map={"gpt-4": "gpt-4o", "o*": "o3", "o3-m*": "o3-mini"}),
    make_channel("two-keys", ["gpt-4o"], keys=["sk-1", "sk-2"]),
]}


def cool(name: str, model: str, seconds: float = 30) -> Callable[[ChannelState], None]:
    def apply(state: ChannelState) -> None:
        state.cool(POOL[name], model, now=NOW, seconds=seconds)
    return apply


def keys_out(name: str) -> Callable[[ChannelState], None]:
    def apply(state: ChannelState) -> None:
        for index in range(len(POOL[name].keys)):
            state.set_key_aside(POOL[name], index, now=NOW, status=401)
    return apply


@dataclass
class Case:
    id: str
    channels: list[str]
    model: str
    verdict: Verdict
    expect: list[str] = field(default_factory=list)  # names, in the only possible order
    group: str = "default"
    setup: list[Callable[[ChannelState], None]] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    later: float = 0.0  # seconds after NOW at which to route


CASES = [
    Case("glob matches", ["glob-short"], "gpt-3.5-turbo", Verdict.OK, ["glob-short"]),
    Case("globs are case-sensitive", ["glob-short"], "GPT-4", Verdict.NO_CHANNEL),
    Case("nothing serves the model", ["glob-short", "claude-a"], "llama-3", Verdict.NO_CHANNEL),
    Case("exact, then longer literal prefix, then catch-all (not file order)",
         ["catchall", "glob-short", "glob-long", "exact"], "gpt-4o", Verdict.OK,
         ["exact", "glob-long", "glob-short", "catchall"]),
    Case("priority outranks specificity", ["exact", "catchall-p5"], "gpt-4o", Verdict.OK,
         ["catchall-p5", "exact"]),
    Case("higher tier first, then specificity inside tier 0",
         ["catchall", "glob-long", "high"], "gpt-4o-mini", Verdict.OK, ["high", "glob-long", "catchall"]),
    Case("channel of another group serves nothing", ["vip-only"], "gpt-4o", Verdict.NO_CHANNEL),
    Case("group member gets its channel", ["vip-only", "exact"], "gpt-4o", Verdict.OK, ["vip-only"],
         group="vip"),
    Case("disabled only -> unavailable", ["off"], "claude-3", Verdict.UNAVAILABLE),
    Case("disabled skipped when another serves", ["off", "claude-a"], "claude-3", Verdict.OK, ["claude-a"]),
    Case("cooling only -> unavailable", ["exact"], "gpt-4o", Verdict.UNAVAILABLE,
         setup=[cool("exact", "gpt-4o")]),
    Case("cooldown over -> back", ["exact"], "gpt-4o", Verdict.OK, ["exact"],
         setup=[cool("exact", "gpt-4o", 30)], later=30.0),
    Case("cooldown is per model", ["glob-short"], "gpt-4.1", Verdict.OK, ["glob-short"],
         setup=[cool("glob-short", "gpt-4o")]),
    Case("cooling one of two", ["exact", "glob-long"], "gpt-4o", Verdict.OK, ["glob-long"],
         setup=[cool("exact", "gpt-4o")]),
    Case("cooldown keyed by the requested model", ["mapped"], "gpt-4", Verdict.UNAVAILABLE,
         setup=[cool("mapped", "gpt-4")]),
    Case("a cooled upstream name does not cool the requested one", ["mapped"], "gpt-4", Verdict.OK,
         ["mapped"], setup=[cool("mapped", "gpt-4o")]),
    Case("all keys set aside -> unavailable", ["two-keys"], "gpt-4o", Verdict.UNAVAILABLE,
         setup=[keys_out("two-keys")]),
    Case("forced picks one and only one", ["exact", "catchall"], "gpt-4o", Verdict.OK, ["catchall"],
         kwargs={"forced": "catchall"}),
    Case("forced unknown", ["exact"], "gpt-4o", Verdict.UNKNOWN_CHANNEL, kwargs={"forced": "nope"}),
    Case("forced disabled", ["off"], "claude-3", Verdict.UNAVAILABLE, kwargs={"forced": "off"}),
    Case("forced ignores its cooldown", ["exact"], "gpt-4o", Verdict.OK, ["exact"],
         setup=[cool("exact", "gpt-4o")], kwargs={"forced": "exact"}),
    Case("forced without usable keys", ["two-keys"], "gpt-4o", Verdict.UNAVAILABLE,
         setup=[keys_out("two-keys")], kwargs={"forced": "two-keys"}),
    Case("forced channel not serving the model", ["exact", "claude-a"], "gpt-4o", Verdict.NO_CHANNEL,
         kwargs={"forced": "claude-a"}),
    Case("forced channel of another group", ["vip-only"], "gpt-4o", Verdict.NO_CHANNEL,
         kwargs={"forced": "vip-only"}),
    Case("excluded is skipped", ["exact", "glob-long"], "gpt-4o", Verdict.OK, ["glob-long"],
         kwargs={"excluded": "exact"}),
    Case("excluding the only one", ["exact"], "gpt-4o", Verdict.NO_CHANNEL, kwargs={"excluded": "exact"}),
    Case("excluded unknown", ["exact"], "gpt-4o", Verdict.UNKNOWN_CHANNEL, kwargs={"excluded": "nope"}),
    Case("types limit channel kinds", ["exact", "gem"], "gpt-4o", Verdict.OK, ["gem"],
         kwargs={"types": {Protocol.GEMINI}}),
    Case("no channel of the needed type", ["exact"], "gpt-4o", Verdict.NO_CHANNEL,
         kwargs={"types": {Protocol.GEMINI, Protocol.ANTHROPIC}}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_candidates(case: Case) -> None:
    config = make_config(*(POOL[name] for name in case.channels))
    state = ChannelState()
    for apply in case.setup:
        apply(state)
    selection = routing.candidates(config, model=case.model, group=case.group, state=state,
                                   now=NOW + case.later, **case.kwargs)
    assert selection.verdict is case.verdict, selection.message
    for seed in range(5):  # every expected order here is forced by tiers, whatever the rng
        assert [c.channel.name for c in selection.ordered(random.Random(seed))] == case.expect
        plain = routing.order(selection.channels, random.Random(seed), model=case.model)
        assert [c.name for c in plain] == case.expect
    assert selection.forced == ("forced" in case.kwargs)
    error = selection.error
    status = {Verdict.OK: None, Verdict.NO_CHANNEL: 404, Verdict.UNKNOWN_CHANNEL: 404,
              Verdict.UNAVAILABLE: 503}[case.verdict]
    assert (error.http_status if error else None) == status
    if case.verdict is Verdict.NO_CHANNEL:
        assert error is not None and error.kind == "model_not_found"


def test_unavailable_message_says_why_without_naming_channels() -> None:
    config = make_config(POOL["off"], POOL["claude-a"])
    state = ChannelState()
    state.cool(POOL["claude-a"], "claude-3", now=NOW, seconds=12)
    selection = routing.candidates(config, model="claude-3", group="default", state=state, now=NOW)
    assert selection.verdict is Verdict.UNAVAILABLE
    assert "1 disabled" in selection.message and "1 cooling down (next back in 12s)" in selection.message
    assert "claude-a" not in selection.message and "off" not in selection.message


@pytest.mark.parametrize(("pattern", "model", "expected"), [
    ("gpt-4o", "gpt-4o", (1, 6, 6)),
    ("gpt-4o*", "gpt-4o", (0, 6, 7)),
    ("gpt-*", "gpt-4o", (0, 4, 5)),
    ("gpt-?o", "gpt-4o", (0, 4, 6)),
    ("gpt-[34]o", "gpt-4o", (0, 4, 9)),
    ("*", "anything", (0, 0, 1)),
    ("gpt-4o", "gpt-4o-mini", None),
    ("Gpt-*", "gpt-4o", None),
])
def test_match_specificity(pattern: str, model: str, expected: tuple[int, int, int] | None) -> None:
    assert routing.match_specificity(pattern, model) == expected
    assert routing.model_matches(pattern, model) == (expected is not None)


@pytest.mark.parametrize(("model", "upstream"), [
    ("gpt-4", "gpt-4o"),  # exact key
    ("o3-mini-high", "o3-mini"),  # the more specific glob wins over "o*", though listed later
    ("o1", "o3"),
    ("gpt-4o", "gpt-4o"),  # no key matches: unchanged
])
def test_upstream_model(model: str, upstream: str) -> None:
    assert routing.upstream_model(POOL["mapped"], model) == upstream


def test_model_map_glob_keys_longer_pattern_then_file_order() -> None:
    longer = make_channel("m", ["*"], model_map={"a*": "first", "a?*": "second"})
    assert routing.upstream_model(longer, "abc") == "second"  # same literal prefix, longer pattern
    tie = make_channel("t", ["*"], model_map={"x*y": "first", "x?y": "second"})
    assert routing.upstream_model(tie, "xzy") == "first"  # equally specific: file order


def test_candidate_carries_the_upstream_model() -> None:
    config = make_config(POOL["mapped"])
    selection = routing.candidates(config, model="gpt-4", group="default", state=ChannelState(), now=NOW)
    assert [c.upstream_model for c in selection.candidates] == ["gpt-4o"]


def _same_tier(weights: dict[str, int]) -> GatewayConfig:
    return make_config(*(make_channel(name, ["gpt-*"], weight=w) for name, w in weights.items()))


def test_weighted_order_within_a_tier_follows_the_weights() -> None:
    config = _same_tier({"a": 1, "b": 2, "c": 3, "idle": 0})
    selection = routing.candidates(config, model="gpt-4o", group="default", state=ChannelState(), now=NOW)
    rng = random.Random(20240601)
    draws = 30_000
    first: Counter[str] = Counter()
    second: Counter[str] = Counter()
    for _ in range(draws):
        names = [c.channel.name for c in selection.ordered(rng)]
        assert sorted(names) == ["a", "b", "c", "idle"]  # without replacement: each exactly once
        assert names[-1] == "idle"  # weight 0 only after everything else of its tier
        first[names[0]] += 1
        second[names[1]] += 1
    tolerance = 0.015  # > 5 standard deviations at this many draws
    for name, share in {"a": 1 / 6, "b": 2 / 6, "c": 3 / 6}.items():
        assert abs(first[name] / draws - share) < tolerance, (name, first)
    # Sequential sampling without replacement: P(a second) = 2/6·1/4 + 3/6·1/3 = 1/4.
    assert abs(second["a"] / draws - 0.25) < tolerance, second


def test_order_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    config = _same_tier({f"ch{i}": 1 for i in range(6)})
    selection = routing.candidates(config, model="gpt-4o", group="default", state=ChannelState(), now=NOW)
    runs = {tuple(c.channel.name for c in selection.ordered(random.Random(seed))) for seed in range(20)}
    again = {tuple(c.channel.name for c in selection.ordered(random.Random(seed))) for seed in range(20)}
    assert runs == again and len(runs) > 10


def test_order_of_plain_channels_by_priority_then_weight() -> None:
    high = [make_channel(f"h{i}", ["*"], priority=10, weight=1) for i in range(3)]
    low = make_channel("low", ["*"], priority=-1, weight=100)
    idle_only = [make_channel(name, ["*"], priority=5, weight=0) for name in ("z1", "z2")]
    seen = set()
    for seed in range(30):
        ordered = routing.order([low, *idle_only, *high], random.Random(seed))
        names = [c.name for c in ordered]
        assert set(names[:3]) == {"h0", "h1", "h2"}
        assert set(names[3:5]) == {"z1", "z2"}  # a tier of only weight-0 channels still serves
        assert names[5] == "low"
        seen.add(tuple(names[3:5]))
    assert len(seen) == 2  # zero-weight channels are shuffled, not fixed


@pytest.mark.parametrize(("status", "fails_over", "cools"), [
    (None, True, True), (400, False, False), (401, True, False), (403, True, False), (404, False, False),
    (408, True, True), (413, False, False), (422, False, False), (429, True, True), (500, True, True),
    (502, True, True), (503, True, True), (529, True, True),
])
def test_failure_policy(status: int | None, fails_over: bool, cools: bool) -> None:
    assert routing.fails_over(status) is fails_over
    assert routing.cools_down(status) is cools
