"""Closing a hold while the database cannot take the write: retried in the background, never dropped.

A settle or release that meets a locked database (another process past busy_timeout) or a full disk
fails as a whole, and its call has already answered the caller. Without a retry the hold would stay
open, its quota reserved, until the next start released it as abandoned (unbilled). Retrying with
growing pauses closes it as soon as the database recovers; the ledger itself refuses a second close,
so a retry of a write that did land changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.ledger.base import LedgerUnavailable, LogRow

# Pauses before each retry: about ten minutes in all, then the hold is left to the restart recovery.
RETRY_DELAYS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)

Close = Callable[[LogRow], Awaitable[bool]]

_pending: set[asyncio.Task[None]] = set()  # referenced, so that a retry is never garbage-collected


def retry_in_background(close: Close, row: LogRow, log: Any, error: Exception) -> asyncio.Task[None]:
    """Log the failed write of `row` and keep calling `close(row)` until the ledger takes it."""
    log.error("ledger_write_failed", request_id=row.request_id, token=row.token, quota=row.quota,
              outcome=str(row.outcome), error=str(error), retrying=True)
    task = asyncio.get_running_loop().create_task(_retry(close, row, log), name="ledger-retry")
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task


async def _retry(close: Close, row: LogRow, log: Any) -> None:
    for attempt, delay in enumerate(RETRY_DELAYS, start=1):
        await asyncio.sleep(delay)
        try:
            closed = await close(row)
        except LedgerUnavailable:
            continue
        log.warning("ledger_write_recovered", request_id=row.request_id, attempts=attempt, closed=closed)
        return
    log.error("ledger_write_abandoned", request_id=row.request_id, token=row.token, quota=row.quota,
              note="the hold stays open until the next start releases it")


def pending() -> int:
    """How many closes are waiting for the database (for tests and operators)."""
    return len(_pending)
