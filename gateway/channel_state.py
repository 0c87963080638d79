"""What the gateway has learnt about its channels while running: cooldowns, set-aside keys, recent
errors and latency. Pure, in memory: every method takes `now` (wall clock, unix seconds) from the caller.

Policies (documented for operators in the README):
- cooldown per (channel, requested model) after 408/429/5xx/529 or no answer: `Retry-After`
  (`retry-after-ms`, seconds or an HTTP date) when the upstream sent one, else `routing.cooldown_seconds`;
  capped at `routing.max_cooldown_seconds`. It ends by itself; a success on that pair ends it early.
- a key answered with 401/403 is set aside for `routing.key_set_aside_seconds` (default one hour), then tried
  again; a reload that changes the key at that position brings it back at once. While every key of a
  channel is set aside the channel is unusable (routing answers 503 if nothing else serves the model).
- recent errors: the last `recent_errors` per channel, messages cut to 300 characters and scrubbed of the
  channel's keys; keys themselves are never stored, only their position and a fingerprint.
Every change returns `StateEvent`s for the caller to log; `expire(now)` reports cooldowns and set-asides
that ran out.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from gateway.routing import cools_down

if TYPE_CHECKING:
    from pydantic import SecretStr

    from gateway.config.models import Channel, RoutingConfig

_MESSAGE_LIMIT = 300
_KEY_IN_QUERY = re.compile(r"(?i)([?&](?:key|api_key|apikey)=)[^&\s\"']+")


@dataclass(frozen=True, slots=True)
class StateEvent:
    """A change to log as a structured event: `log.info(event.name, **event.fields)`."""

    name: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    at: float
    model: str
    status: int | None  # None: connection error or timeout
    message: str


@dataclass(slots=True)
class _SetAside:
    until: float
    fingerprint: str  # of the key that was refused, to notice a reload that replaced it


@dataclass(slots=True)
class _Channel:
    cooldowns: dict[str, float] = field(default_factory=dict)  # requested model -> until
    set_aside: dict[int, _SetAside] = field(default_factory=dict)  # key index -> ...
    errors: deque[ErrorRecord] = field(default_factory=deque)
    next_key: int = 0
    latency: float | None = None  # seconds, EWMA of successful calls
    successes: int = 0
    failures: int = 0
    last_success: float | None = None


def parse_retry_after(value: str | None, now: float, *, milliseconds: str | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (delta seconds or an HTTP date) or `retry-after-ms`;
    None when absent or unreadable."""
    if milliseconds:
        try:
            millis = float(milliseconds)
        except ValueError:
            millis = -1.0
        if millis >= 0:
            return millis / 1000.0
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(when.timestamp() - now, 0.0)
    return seconds if seconds >= 0 and seconds == seconds else None  # rejects negatives and NaN


def _fingerprint(key: SecretStr) -> str:
    return hashlib.sha256(key.get_secret_value().encode()).hexdigest()[:16]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ChannelState:
    """Mutable, process-wide, keyed by channel name so it survives reloads (see `retain`)."""

    def __init__(self, *, key_set_aside_seconds: float = 3600.0, max_cooldown_seconds: float = 3600.0,
                 recent_errors: int = 20, latency_alpha: float = 0.2) -> None:
        self.key_set_aside_seconds = key_set_aside_seconds
        self.max_cooldown_seconds = max_cooldown_seconds
        self._recent_errors = recent_errors
        self._alpha = latency_alpha
        self._channels: dict[str, _Channel] = {}

    def apply_limits(self, routing: RoutingConfig) -> None:
        """Take the limits of a (re)loaded configuration; set-asides already running keep their end."""
        self.key_set_aside_seconds = routing.key_set_aside_seconds
        self.max_cooldown_seconds = routing.max_cooldown_seconds

    def _of(self, name: str) -> _Channel:
        state = self._channels.get(name)
        if state is None:
            state = self._channels[name] = _Channel(errors=deque(maxlen=self._recent_errors))
        return state

    # --- reads -------------------------------------------------------------------------------------

    def cooling_until(self, channel: Channel, model: str, now: float) -> float | None:
        """When the cooldown of this channel+model ends, or None when it is not cooling."""
        state = self._channels.get(channel.name)
        until = state.cooldowns.get(model) if state else None
        return until if until is not None and until > now else None

    def usable_keys(self, channel: Channel, now: float) -> list[int]:
        """Positions of the channel's keys that are not set aside."""
        state = self._channels.get(channel.name)
        if state is None or not state.set_aside:
            return list(range(len(channel.keys)))
        return [i for i, key in enumerate(channel.keys) if not self._is_set_aside(state, i, key, now)]

    def has_usable_key(self, channel: Channel, now: float) -> bool:
        """Whether a call can be authenticated; a channel configured without keys needs none."""
        return not channel.keys or bool(self.usable_keys(channel, now))

    @staticmethod
    def _is_set_aside(state: _Channel, index: int, key: SecretStr, now: float) -> bool:
        entry = state.set_aside.get(index)
        return entry is not None and entry.until > now and entry.fingerprint == _fingerprint(key)

    def next_key(self, channel: Channel, now: float) -> tuple[int | None, SecretStr | None] | None:
        """The next usable (position, key), round-robin over the channel's keys; None when all are set
        aside; (None, None) for a channel configured without keys (it sends no credential)."""
        if not channel.keys:
            return None, None
        usable = self.usable_keys(channel, now)
        if not usable:
            return None
        state = self._of(channel.name)
        # The first usable position at or after the cursor, wrapping around.
        start = state.next_key % len(channel.keys)
        index = min(usable, key=lambda i: (i - start) % len(channel.keys))
        state.next_key = index + 1
        return index, channel.keys[index]

    # --- outcomes ----------------------------------------------------------------------------------

    def record_success(self, channel: Channel, model: str, *, now: float,
                       latency: float) -> list[StateEvent]:
        """A call answered: update latency; a cooldown on this pair ends early."""
        state = self._of(channel.name)
        state.successes += 1
        state.last_success = now
        state.latency = latency if state.latency is None else (
            self._alpha * latency + (1 - self._alpha) * state.latency)
        if state.cooldowns.pop(model, None) is not None:
            return [StateEvent("channel_cooldown_ended",
                               {"channel": channel.name, "model": model, "reason": "success"})]
        return []

    def record_failure(self, channel: Channel, model: str, *, now: float, status: int | None,
                       cooldown: float, message: str = "", key_index: int | None = None,
                       retry_after: str | None = None, retry_after_ms: str | None = None) -> list[StateEvent]:
        """A failed attempt: remember the error, and cool the pair or set the key aside as the status says.

        `model` is the requested model (the one routing was asked for). `status` None means no answer
        (connection error, timeout); 401/403 with a `key_index` set that key aside instead of cooling;
        `cooldown` is `routing.cooldown_seconds`, used when the upstream gave no `Retry-After`.
        """
        state = self._of(channel.name)
        state.failures += 1
        clean = self._scrub(channel, message)
        state.errors.append(ErrorRecord(now, model, status, clean))
        events = [StateEvent("channel_error", {"channel": channel.name, "model": model,
                                                "status": status, "message": clean})]
        if status in (401, 403) and key_index is not None:
            events += self.set_key_aside(channel, key_index, now=now, status=status)
        elif cools_down(status):
            wait = parse_retry_after(retry_after, now, milliseconds=retry_after_ms)
            honoured = wait is not None
            seconds = wait if wait is not None else cooldown
            events.append(self.cool(channel, model, now=now, seconds=seconds, status=status,
                                    retry_after=honoured))
        return events

    def cool(self, channel: Channel, model: str, *, now: float, seconds: float,
             status: int | None = None, retry_after: bool = False) -> StateEvent:
        """Take this channel+model out of routing for `seconds` (capped), extending any longer one."""
        seconds = min(max(seconds, 0.0), self.max_cooldown_seconds)
        state = self._of(channel.name)
        until = max(now + seconds, state.cooldowns.get(model, 0.0))
        state.cooldowns[model] = until
        return StateEvent("channel_cooldown_started", {
            "channel": channel.name, "model": model, "seconds": round(until - now, 3),
            "until": _iso(until), "status": status, "retry_after": retry_after})

    def set_key_aside(self, channel: Channel, key_index: int, *, now: float,
                      status: int | None = None) -> list[StateEvent]:
        """Stop using the key at `key_index` for `key_set_aside_seconds`; says so when none is left."""
        if not 0 <= key_index < len(channel.keys):
            return []
        state = self._of(channel.name)
        until = now + self.key_set_aside_seconds
        state.set_aside[key_index] = _SetAside(until, _fingerprint(channel.keys[key_index]))
        events = [StateEvent("channel_key_set_aside", {
            "channel": channel.name, "key_index": key_index, "status": status, "until": _iso(until)})]
        if not self.has_usable_key(channel, now):
            events.append(StateEvent("channel_keys_exhausted", {
                "channel": channel.name, "keys": len(channel.keys), "until": _iso(until)}))
        return events

    def expire(self, now: float) -> list[StateEvent]:
        """Forget cooldowns and set-asides that ran out, reporting each (call before routing)."""
        events: list[StateEvent] = []
        for name, state in self._channels.items():
            for model, until in list(state.cooldowns.items()):
                if until <= now:
                    del state.cooldowns[model]
                    events.append(StateEvent("channel_cooldown_ended",
                                             {"channel": name, "model": model, "reason": "expired"}))
            for index, entry in list(state.set_aside.items()):
                if entry.until <= now:
                    del state.set_aside[index]
                    events.append(StateEvent("channel_key_restored",
                                             {"channel": name, "key_index": index, "reason": "expired"}))
        return events

    def retain(self, channel_names: Iterable[str]) -> None:
        """After a reload: keep the state of channels that still exist, drop the rest."""
        keep = set(channel_names)
        for name in [n for n in self._channels if n not in keep]:
            del self._channels[name]

    # --- reporting ---------------------------------------------------------------------------------

    def snapshot(self, channels: Iterable[Channel], now: float) -> dict[str, Any]:
        """The state of every configured channel for `GET /api/channels` (no key, ever)."""
        out: list[dict[str, Any]] = []
        for channel in channels:
            state = self._channels.get(channel.name) or _Channel()
            usable = self.usable_keys(channel, now)
            out.append({
                "name": channel.name,
                "type": str(channel.type),
                "enabled": channel.enabled,
                "priority": channel.priority,
                "weight": channel.weight,
                "keys": {"total": len(channel.keys), "usable": len(usable), "set_aside": [
                    {"index": i, "until": _iso(state.set_aside[i].until)}
                    for i in sorted(state.set_aside) if i < len(channel.keys) and i not in usable]},
                "cooldowns": [{"model": model, "until": _iso(until), "seconds_left": round(until - now, 1)}
                              for model, until in sorted(state.cooldowns.items()) if until > now],
                "latency_ms": None if state.latency is None else round(state.latency * 1000, 1),
                "successes": state.successes,
                "failures": state.failures,
                "last_success": None if state.last_success is None else _iso(state.last_success),
                "recent_errors": [{"at": _iso(e.at), "model": e.model, "status": e.status,
                                   "message": e.message} for e in reversed(state.errors)],
            })
        return {"channels": out}

    @staticmethod
    def _scrub(channel: Channel, message: str) -> str:
        # Upstream error texts sometimes echo the key (or part of it); never keep one.
        for key in channel.keys:
            secret = key.get_secret_value()
            if secret:
                message = message.replace(secret, "***")
        message = _KEY_IN_QUERY.sub(r"\1***", message)
        return message[:_MESSAGE_LIMIT]
