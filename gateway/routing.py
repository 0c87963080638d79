"""Which channels may answer a call, and in what order (SPEC §5); pure: the clock and rng are passed in.

How a channel's `models` decide (documented for operators in the README):
- a channel serves a model when any of its patterns matches it (fnmatch globs, case-sensitive);
- its match is ranked by its best pattern: the exact name outranks every glob, a glob with a longer
  literal prefix (text before the first `*`, `?` or `[`) outranks a shorter one, then a longer pattern;
- `priority` always decides first: a higher tier is tried before a lower one whatever its match;
- inside one priority tier, channels that name the model exactly are tried before glob matches, and
  among globs the more specific come first; channels of equal rank share traffic by `weight`.
  So a catch-all channel (`models: ["*"]`) next to a specific one only takes over when it fails.
- `weight: 0` means "only when every other channel of its rank has been tried".
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, TypeVar, cast, overload

from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError

if TYPE_CHECKING:
    import random

    from gateway.channel_state import ChannelState
    from gateway.config.models import Channel, GatewayConfig

# (1 for an exact name else 0, literal prefix length, pattern length): bigger is more specific.
Specificity = tuple[int, int, int]

_WILDCARDS = "*?["

# Upstream statuses after which the next candidate is tried (SPEC §5); None stands for a connection
# error or a timeout before the first byte. 401/403 fail over too: the key is set aside, not the caller.
_FAILOVER_STATUSES = frozenset({401, 403, 408, 429})
# Statuses that put a channel+model in cooldown (with connection errors and timeouts).
_COOLING_STATUSES = frozenset({408, 429})


def literal_prefix(pattern: str) -> int:
    """Length of the text before the first wildcard; the whole pattern when it has none."""
    for i, char in enumerate(pattern):
        if char in _WILDCARDS:
            return i
    return len(pattern)


def model_matches(pattern: str, model: str) -> bool:
    """Whether a `models`/`model_map` pattern covers `model` (case-sensitive glob)."""
    return pattern == model or fnmatchcase(model, pattern)


def match_specificity(pattern: str, model: str) -> Specificity | None:
    """How specifically `pattern` names `model`, or None when it does not match at all."""
    if pattern == model:
        return (1, len(pattern), len(pattern))
    if not fnmatchcase(model, pattern):
        return None
    return (0, literal_prefix(pattern), len(pattern))


def best_match(patterns: Iterable[str], model: str) -> Specificity | None:
    """The most specific of `patterns` matching `model`, or None when none does."""
    best: Specificity | None = None
    for pattern in patterns:
        rank = match_specificity(pattern, model)
        if rank is not None and (best is None or rank > best):
            best = rank
    return best


def upstream_model(channel: Channel, model: str) -> str:
    """The name sent upstream: `model_map`'s exact key, else its most specific glob key, else `model`.

    Equally specific glob keys are resolved by their order in the file.
    """
    mapped = channel.model_map.get(model)
    if mapped is not None:
        return mapped
    best: Specificity | None = None
    for pattern, target in channel.model_map.items():
        rank = match_specificity(pattern, model)
        if rank is not None and (best is None or rank > best):
            best, mapped = rank, target
    return mapped if mapped is not None else model


def fails_over(status: int | None) -> bool:
    """Whether an upstream answer (None: connection error or timeout before the first byte) moves the
    call to the next candidate, as long as nothing has reached the caller yet."""
    return status is None or status in _FAILOVER_STATUSES or status >= 500


def cools_down(status: int | None) -> bool:
    """Whether an upstream answer puts the channel+model in cooldown (429, 408, 5xx, 529, no answer)."""
    return status is None or status in _COOLING_STATUSES or status >= 500


class Verdict(enum.StrEnum):
    OK = "ok"
    NO_CHANNEL = "no_channel"  # nothing serves this model for this group -> 404 model_not_found
    UNKNOWN_CHANNEL = "unknown_channel"  # a forced/excluded name that is not configured -> 404
    UNAVAILABLE = "unavailable"  # everything that serves it is disabled, cooling or out of keys -> 503


@dataclass(frozen=True, slots=True)
class Candidate:
    """A channel able to take the call now, with how well it matched and the name to send upstream."""

    channel: Channel
    specificity: Specificity
    upstream_model: str

    @property
    def tier(self) -> tuple[int, int, int, int]:
        """Candidates of equal tier share traffic by weight; higher tiers go first."""
        return (self.channel.priority, *self.specificity)


@dataclass(frozen=True, slots=True)
class Selection:
    """The result of `candidates()`: usable channels, or why there are none."""

    verdict: Verdict
    candidates: tuple[Candidate, ...] = ()
    message: str = ""
    forced: bool = False  # a pinned channel: no failover to anything else

    @property
    def channels(self) -> list[Channel]:
        """The usable channels, unordered (see `ordered` / `order`)."""
        return [c.channel for c in self.candidates]

    @property
    def error(self) -> GatewayError | None:
        """The error to answer with when no channel can take the call (SPEC §7)."""
        if self.verdict is Verdict.OK:
            return None
        kind = {Verdict.NO_CHANNEL: "model_not_found", Verdict.UNKNOWN_CHANNEL: "not_found",
                Verdict.UNAVAILABLE: "unavailable"}[self.verdict]
        return GatewayError(kind, self.message)

    def ordered(self, rng: random.Random) -> list[Candidate]:
        """The candidates in the order to try them (each knows its channel and upstream model)."""
        return order(self.candidates, rng)


def candidates(config: GatewayConfig, *, model: str, group: str, state: ChannelState, now: float,
               forced: str | None = None, excluded: str | None = None,
               types: Collection[Protocol] | None = None) -> Selection:
    """The channels that may answer `model` for a token of `group` right now.

    `forced` pins one channel (no failover; its cooldown is ignored so an operator can test whether it
    recovered, but a disabled channel or one without a usable key is refused). `excluded` removes one.
    `types` limits the channel types able to serve the endpoint (e.g. embeddings: openai, gemini).
    """
    if forced is not None:
        pinned = next((channel for channel in config.channels if channel.name == forced), None)
        return _forced(pinned, forced, model=model, group=group, state=state, now=now, types=types)
    if excluded is not None and all(channel.name != excluded for channel in config.channels):
        return Selection(Verdict.UNKNOWN_CHANNEL, message=f"unknown channel {excluded!r}")

    serving = _serving(config, model, group, excluded, types)
    if not serving:
        other = "other " if excluded is not None else ""
        return Selection(Verdict.NO_CHANNEL,
                         message=f"no {other}channel serves model {model!r} for this key")

    usable = [c for c in serving if c.channel.enabled
              and state.cooling_until(c.channel, model, now) is None
              and state.has_usable_key(c.channel, now)]
    if not usable:
        return Selection(Verdict.UNAVAILABLE, message=_unavailable_reason(serving, model, state, now))
    return Selection(Verdict.OK, tuple(usable))


# Which channels serve a model for a group depends on the configuration alone (frozen; a reload brings a
# new object), so the glob matching is remembered per configuration. Model names come from callers: the
# memo is bounded. Only that static part is remembered; enabled, cooldowns and keys are judged per call.
_MEMO_LIMIT = 4096
_memo_config: object | None = None
_memo: dict[tuple[str, str, str | None, frozenset[Protocol] | None], tuple[Candidate, ...]] = {}


def _serving(config: GatewayConfig, model: str, group: str, excluded: str | None,
             types: Collection[Protocol] | None) -> tuple[Candidate, ...]:
    global _memo_config, _memo
    if config is not _memo_config:
        _memo_config, _memo = config, {}
    key = (model, group, excluded, None if types is None else frozenset(types))
    found = _memo.get(key)
    if found is None:
        found = tuple(_match(config, model, group, excluded, types))
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[key] = found
    return found


def _match(config: GatewayConfig, model: str, group: str, excluded: str | None,
           types: Collection[Protocol] | None) -> Iterable[Candidate]:
    for channel in config.channels:
        if channel.name == excluded or group not in channel.groups:
            continue
        if types is not None and channel.type not in types:
            continue
        rank = best_match(channel.models, model)
        if rank is not None:
            yield Candidate(channel, rank, upstream_model(channel, model))


def _forced(channel: Channel | None, name: str, *, model: str, group: str, state: ChannelState,
            now: float, types: Collection[Protocol] | None) -> Selection:
    if channel is None:
        return Selection(Verdict.UNKNOWN_CHANNEL, message=f"unknown channel {name!r}", forced=True)
    rank = best_match(channel.models, model)
    if rank is None or group not in channel.groups or (types is not None and channel.type not in types):
        return Selection(Verdict.NO_CHANNEL, forced=True,
                         message=f"channel {name!r} does not serve model {model!r} for this key")
    if not channel.enabled:
        return Selection(Verdict.UNAVAILABLE, message=f"channel {name!r} is disabled", forced=True)
    if not state.has_usable_key(channel, now):
        return Selection(Verdict.UNAVAILABLE, forced=True,
                         message=f"channel {name!r} has no usable key (all were refused upstream)")
    return Selection(Verdict.OK, (Candidate(channel, rank, upstream_model(channel, model)),), forced=True)


def _unavailable_reason(serving: Sequence[Candidate], model: str, state: ChannelState, now: float) -> str:
    disabled = sum(1 for c in serving if not c.channel.enabled)
    enabled = [c for c in serving if c.channel.enabled]
    cooling = [until for c in enabled if (until := state.cooling_until(c.channel, model, now)) is not None]
    parts = []
    if disabled:
        parts.append(f"{disabled} disabled")
    if cooling:
        parts.append(f"{len(cooling)} cooling down (next back in {math.ceil(min(cooling) - now)}s)")
    keyless = len(enabled) - len(cooling)
    if keyless:
        parts.append(f"{keyless} without a usable key")
    return f"no channel is available for model {model!r} right now: " + ", ".join(parts)


_T = TypeVar("_T")


@overload
def order(items: Sequence[Candidate], rng: random.Random, *, model: str | None = None) -> list[Candidate]: ...
@overload
def order(items: Sequence[Channel], rng: random.Random, *, model: str | None = None) -> list[Channel]: ...


def order(items: Sequence[Candidate] | Sequence[Channel], rng: random.Random, *,
          model: str | None = None) -> list[Candidate] | list[Channel]:
    """The order to try `items` in: best tier first, weighted random without replacement inside a
    tier; weight 0 only after the rest of its tier. A tier is (priority, match specificity): pass
    candidates, or channels with the requested `model`; plain channels without it rank by priority."""
    if all(isinstance(item, Candidate) for item in items):
        return _order(cast("Sequence[Candidate]", items), lambda c: c.tier, lambda c: c.channel.weight, rng)

    def tier(channel: Channel) -> tuple[int, ...]:
        rank = best_match(channel.models, model) if model is not None else None
        return (channel.priority, *rank) if rank is not None else (channel.priority,)

    return _order(cast("Sequence[Channel]", items), tier, lambda c: c.weight, rng)


def _order(items: Sequence[_T], tier_of: Callable[[_T], tuple[int, ...]], weight_of: Callable[[_T], int],
           rng: random.Random) -> list[_T]:
    tiers: dict[tuple[int, ...], list[_T]] = {}
    for item in items:
        tiers.setdefault(tier_of(item), []).append(item)
    result: list[_T] = []
    for tier in sorted(tiers, reverse=True):
        result.extend(_weighted_shuffle(tiers[tier], weight_of, rng))
    return result


def _weighted_shuffle(items: list[_T], weight_of: Callable[[_T], int], rng: random.Random) -> list[_T]:
    # Efraimidis–Spirakis: sorting by u ** (1 / w) is weighted sampling without replacement in one pass.
    keyed: list[tuple[float, _T]] = []
    idle: list[_T] = []
    for item in items:
        weight = weight_of(item)
        if weight > 0:
            keyed.append((rng.random() ** (1.0 / weight), item))
        else:
            idle.append(item)
    keyed.sort(key=lambda entry: entry[0], reverse=True)  # stable: equal keys keep file order
    rng.shuffle(idle)
    return [item for _, item in keyed] + idle
