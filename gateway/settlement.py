"""Closing a call's hold exactly once, with its log row: what was admitted, what to bill, the write."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway import pricing
from gateway.call import Call
from gateway.config.models import Channel, GatewayConfig, Price
from gateway.ledger.base import LedgerUnavailable, LogRow, Outcome
from gateway.ledger.retry import retry_in_background
from gateway.protocols import Usage, estimate
from gateway.ratelimit import Ticket
from gateway.routing import Candidate
from gateway.runtime import Runtime


@dataclass(slots=True)
class Admission:
    price: Price
    candidates: list[Candidate]
    prompt_tokens: int  # the estimate the hold was taken on
    hold: int
    limit_tokens: int = 0  # prompt estimate + maximum output, for the token's tpm limit
    ticket: Ticket = field(default_factory=Ticket)  # its share of the token's rate limits


class Settlement:
    """Closes a call's hold exactly once: settled at cost, or released; always with its log row."""

    def __init__(self, rt: Runtime, config: GatewayConfig, call: Call, row: LogRow, admission: Admission):
        self.rt, self.config, self.call, self.row, self.admission = rt, config, call, row, admission
        self.done = False
        self.upstream_sent: float | None = None  # monotonic time of the first upstream send
        self.relay_seconds = 0.0  # time spent handling the reply, upstream waits excluded

    def overhead_seconds(self, handling: float = 0.0) -> float:
        """Time spent in the gateway, waits on the upstream excluded: arrival to the first upstream
        send, plus reply handling so far (`handling`: the part not yet added to relay_seconds)."""
        sent = self.upstream_sent if self.upstream_sent is not None else time.monotonic()
        return sent - self.call.started + self.relay_seconds + handling

    async def settle(self, usage: Usage, channel: Channel, *, outcome: Outcome, status: int) -> None:
        if self.done:
            return
        self.done = True
        usage, clamped = usage.clamped()
        multiplier = channel.multiplier * self.config.group(self.call.token.group).multiplier
        charge = pricing.cost(self.admission.price, usage, quota_per_usd=self.config.billing.quota_per_usd,
                              multiplier=multiplier)
        row = self.row
        flags = [f for f in (row.flags,) if f]
        if clamped:  # negative or absurd numbers: the upstream is broken, never bill past the hold
            flags.append("usage_clamped")
            charge = min(charge, self.admission.hold)
        if charge > self.admission.hold:
            flags.append("over_hold")
        row.outcome, row.status, row.quota, row.flags = outcome, status, charge, ",".join(flags)
        row.prompt_tokens, row.completion_tokens = usage.prompt, usage.completion
        row.cached_tokens, row.cache_write_tokens = usage.cached, usage.cache_write
        row.reasoning_tokens, row.usage_estimated = usage.reasoning, not usage.reported
        self._finish_times()
        if clamped:  # before the write: a caller that hangs up cancels the handler at that await
            self.rt.log.warning("usage_clamped", channel=channel.name, model=self.call.model, charge=charge)
        await self._close(self.rt.ledger.settle)

    async def release(self, status: int, error: str, *, outcome: Outcome = Outcome.ERROR) -> None:
        if self.done:
            return
        self.done = True
        self.row.outcome, self.row.status, self.row.error, self.row.quota = outcome, status, error, 0
        self._finish_times()
        await self._close(self.rt.ledger.release)

    async def _close(self, close: Callable[[LogRow], Awaitable[bool]]) -> None:
        """Queue the row and the closing of the hold, without waiting for the commit: the caller already
        has its answer, and a handler that returns now lets its keep-alive connection's next request
        in sooner (the commit still lands before the call counts as done: Runtime.track_write). A
        database that cannot take the write now gets it later (retry_in_background)."""
        write = asyncio.ensure_future(close(self.row))
        self.rt.track_write(write)
        write.add_done_callback(functools.partial(self._landed, close))

    def _landed(self, close: Callable[[LogRow], Awaitable[bool]], write: asyncio.Future[bool]) -> None:
        if write.cancelled():
            return
        failure = write.exception()
        if isinstance(failure, LedgerUnavailable):
            retry_in_background(close, self.row, self.rt.log, failure)
        elif failure is not None:  # a bug of ours: the row is refused; say so loudly
            self.rt.log.error("ledger_write_refused", request_id=self.row.request_id,
                              error=f"{type(failure).__name__}: {failure}")
        elif self.row.quota:  # settled and written: a look at the balance for low-quota notifications
            self.rt.notifier.quota_used(self.call.token)

    def _finish_times(self) -> None:
        self.row.request_time_ms = int((time.monotonic() - self.call.started) * 1000)
        overhead = None
        if self.upstream_sent is not None:
            overhead = self.overhead_seconds()
        self.rt.metrics.call_finished(self.config, self.row, held=True, overhead=overhead)
        row = self.row  # tpm counts what was billed; a released call counts nothing
        self.rt.limits.correct(self.admission.ticket, row.prompt_tokens + row.cached_tokens
                               + row.cache_write_tokens + row.completion_tokens if row.quota else 0)


async def shielded(write: Any) -> Any:
    """Ledger writes complete even when the handler is cancelled (a vanished caller)."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # Let the write land before the cancellation goes on: until then the call still counts as in
        # flight (`Runtime.idle`, shutdown), or its row could be lost with a ledger closed under it.
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what propagates
        raise


def new_row(call: Call) -> LogRow:
    return LogRow(request_id=call.request_id, token=call.token.name, model=call.model, time=call.arrived,
                  protocol=call.door.value, endpoint=call.endpoint.value, stream=call.stream,
                  client_ip=call.client_ip)


def usage_to_bill(admission: Admission, output_chars: int, reported: Usage | None, finished: bool) -> Usage:
    """Usage to bill: what the upstream reported, topped up from relayed text when it stopped early."""
    counted = estimate.tokens_from_chars(output_chars)
    if reported is None or not reported.reported:
        return Usage(prompt=admission.prompt_tokens, completion=counted, reported=False)
    if not finished and counted > reported.completion:
        reported.completion = counted
    return reported
