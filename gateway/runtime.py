"""Everything a running gateway shares between calls: the live config snapshot and the I/O owners."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.channel_state import ChannelState
from gateway.config.models import GatewayConfig
from gateway.ledger.base import Ledger
from gateway.logs import Redactor
from gateway.metrics import Metrics
from gateway.notify import Notifier
from gateway.ratelimit import RateLimiter
from gateway.upstream import Upstream

if TYPE_CHECKING:
    from gateway.reload import Reloader


@dataclass(slots=True)
class Runtime:
    """Swapped as a whole on reload is only `config`; a call reads it once and keeps that snapshot."""

    config: GatewayConfig
    ledger: Ledger
    upstream: Upstream
    channels: ChannelState
    redactor: Redactor
    log: Any  # a structlog BoundLogger
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    reloader: Reloader | None = None  # set when the process was started from a config file
    metrics: Metrics = field(default_factory=Metrics)
    limits: RateLimiter = field(default_factory=RateLimiter)
    notifier: Notifier = field(init=False)
    in_flight: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _calls: set[asyncio.Task[Any]] = field(default_factory=set)  # tasks serving calls, for shutdown

    def __post_init__(self) -> None:
        self.notifier = Notifier(self)

    def call_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)

    def call_ended(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._calls.discard(task)
        self._one_less()

    def track_write(self, write: asyncio.Future[Any]) -> None:
        """A call's closing ledger write, which its handler does not wait for: it counts as in flight
        until it lands, so `idle()` and shutdown wait for it (and shutdown does not cancel it)."""
        self.in_flight += 1
        self._idle.clear()
        write.add_done_callback(lambda _: self._one_less())

    def _one_less(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def cancel_calls(self) -> int:
        """Cancel every call in flight (shutdown past its grace period); each settles for what it
        produced or releases its hold on the way out. Returns how many were cancelled."""
        calls = [task for task in self._calls if not task.done()]
        for task in calls:
            task.cancel()
        return len(calls)

    async def idle(self) -> None:
        """Wait until no call is in flight (its settlement and log row written, see track_write)."""
        if self.in_flight:
            await self._idle.wait()
