"""Everything a running gateway shares between calls: the live config snapshot and the I/O owners."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.channel_state import ChannelState
from gateway.config.models import GatewayConfig
from gateway.ledger.base import Ledger
from gateway.logs import Redactor
from gateway.upstream import Upstream


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
    in_flight: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def call_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def call_ended(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def idle(self) -> None:
        """Wait until no call is in flight (its settlement and log row written)."""
        if self.in_flight:
            await self._idle.wait()
