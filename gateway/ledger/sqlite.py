"""The SQLite ledger: holds, settlements and log rows, group-committed by one writer (SPEC §4, §8).

Writes are queued; one writer task takes everything queued, applies it in order inside one
`BEGIN IMMEDIATE … COMMIT` on the writer connection's thread (one thread hop, one fsync per
batch) and only then resolves each caller. Reads go through a separate read-only connection on
its own thread, which under WAL never blocks the writer and never sees a half-applied batch.

Not aiosqlite: it has no public way to run several statements in one hop on its thread, and its
non-daemon thread keeps the interpreter from exiting when a connection is left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from gateway.ledger import daily, reads
from gateway.ledger.base import (
    DailyStat,
    HoldState,
    Ledger,
    LedgerUnavailable,
    LogPage,
    LogQuery,
    LogRow,
    Outcome,
    StatsQuery,
    TokenBalance,
)
from gateway.ledger.batches import apply_then_sync
from gateway.ledger.connection import ThreadConnection
from gateway.ledger.writes import (
    SYNCHRONOUS_MODES,
    CloseOp,
    HoldOp,
    LogOp,
    OpResult,
    RebuildStatsOp,
    WriteOp,
    check_integer,
    check_row,
    checkpoint_and_close,
    connect_writer,
    migrate,
    recover_abandoned,
    set_synchronous,
)

_logger = structlog.get_logger("gateway.ledger")

CANCELLED_HOLD_ERROR = "caller went away while its hold was being taken; released"


@dataclass(slots=True)
class _Queued:
    op: WriteOp
    future: asyncio.Future[int | bool | None]


class SqliteLedger(Ledger):
    """A `Ledger` in one SQLite file. One writing instance per file (holds of other boot ids are
    treated as abandoned at open()); any number of `readonly=True` instances may read alongside."""

    def __init__(
        self,
        path: str,
        *,
        # FULL fsyncs the WAL at every commit, so a settled charge survives a power loss, not only a
        # crash of the process (with NORMAL the last commits may roll back after a power cut and the
        # gateway under-bills). Group commit pays that fsync once per batch, not once per call.
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
        busy_timeout_ms: int = 5000,
        readonly: bool = False,
        max_batch: int = 512,
        # Seconds a batch of settlements and releases alone waits for a hold to join it (see
        # _let_holds_join); 0 writes it at once.
        settle_delay: float = 0.001,
        # Days of the daily statistics are dates in this IANA zone (server.timezone). A writing ledger
        # opened with another zone than the file's statistics rebuilds them in this one at open().
        timezone: str = "UTC",
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}, got {synchronous!r}")
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        check_integer("busy_timeout_ms", busy_timeout_ms, minimum=0)
        check_integer("max_batch", max_batch, minimum=1)
        self._path = path
        # mode=ro: the reading connection can never write, so a CLI reading the file cannot block
        # the gateway. Resolved here, against the working directory at construction.
        self._reader_uri = f"{Path(os.path.abspath(path)).as_uri()}?mode=ro"
        self._synchronous = synchronous.upper()
        # With FULL the writer commits at NORMAL and fdatasyncs the WAL itself after each batch (what
        # FULL does inside COMMIT), so holds can be answered in between (see _write_batch).
        wal = f"{os.path.abspath(path)}-wal"
        self._sync_wal: Callable[[], None] | None = (
            functools.partial(_fdatasync, wal) if self._synchronous == "FULL" else None)
        self._clock = clock
        self._busy_timeout_ms = busy_timeout_ms
        self._readonly = readonly
        self._max_batch = max_batch
        self._settle_delay = settle_delay
        self._boot_id = uuid.uuid4().hex
        self._state: Literal["new", "open", "closing", "closed"] = "new"
        self._write_db = ThreadConnection("ledger-writer")
        self._read_db = ThreadConnection("ledger-reader")
        self._pending: list[_Queued] = []
        self._queued = 0  # writes queued so far, and of those, written (committed or failed)
        self._written = 0
        self._readers: list[tuple[int, asyncio.Future[None]]] = []  # reads waiting for earlier writes
        self._inflight: list[_Queued] = []
        self._wakeup = asyncio.Event()
        self._write_task: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._stats_zone: str | None = None

    @property
    def boot_id(self) -> str:
        return self._boot_id

    @property
    def stats_timezone(self) -> str | None:
        return self._stats_zone

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> int:
        if self._state != "new":
            if self._state == "open":
                return 0
            raise LedgerUnavailable("ledger is closed")
        released = 0
        rezoned: tuple[str | None, int] | None = None
        try:
            if not self._readonly:
                await self._write_db.open(functools.partial(
                    connect_writer, self._path, self._synchronous, self._busy_timeout_ms))
                await self._write_db.run(migrate)
                rezoned = await self._write_db.run(daily.ensure_zone, self._zone)
                released = await self._write_db.run(recover_abandoned, self._boot_id, self._clock(),
                                                    self._zone)
                if self._sync_wal is not None:  # from now on the writer syncs the WAL itself
                    await self._write_db.run(set_synchronous, "NORMAL")
            await self._read_db.open(functools.partial(
                reads.connect_reader, self._reader_uri, self._busy_timeout_ms))
            self._stats_zone = await self._read_db.run(daily.read_zone)
        except (sqlite3.Error, OSError, LedgerUnavailable) as exc:
            await self._teardown()
            raise LedgerUnavailable(f"cannot open ledger {self._path}: {exc}") from exc
        except BaseException:
            await self._teardown()
            raise
        if not self._readonly:
            self._write_task = asyncio.create_task(self._write_loop(), name="ledger-writer")
        self._state = "open"
        if released:
            _logger.warning("ledger.abandoned_released", count=released, path=self._path)
        if not self._readonly and rezoned is not None and rezoned[0] is not None:
            _logger.warning("ledger.stats_rebuilt", previous_timezone=rezoned[0], timezone=self._zone.key,
                            log_rows=rezoned[1], path=self._path)
        return released

    async def close(self) -> None:
        """Finish every queued write, checkpoint the WAL into the main file, close.

        Shielded: a caller cancelled while closing does not stop queued settlements landing.
        """
        if self._closing is None:
            if self._state != "open":
                self._state = "closed"
                return
            self._state = "closing"
            self._closing = asyncio.ensure_future(self._drain_and_close())
        await asyncio.shield(self._closing)

    async def _drain_and_close(self) -> None:
        if self._write_task is not None:
            self._wakeup.set()
            await asyncio.wait([self._write_task])  # never raises, even if the task was cancelled
        await self._teardown()
        self._state = "closed"

    # -- writes ------------------------------------------------------------------------------

    async def hold(self, request_id: str, token: str, grant: int | None, amount: int, *,
                   model: str = "") -> None:
        if not request_id or not token:
            raise ValueError("a hold needs a request_id and a token")
        check_integer("amount", amount, minimum=0)
        if grant is not None:
            check_integer("grant", grant)
        # If the caller is cancelled before its batch runs, the hold is skipped; if during, the
        # writer releases it once committed (see _resolve), so a cancelled hold never lingers.
        op = HoldOp(request_id, token, grant, amount, model)
        taken = self._submit(op)
        try:
            await taken
        except asyncio.CancelledError:
            # Cancelled after the hold was committed but before this task resumed: the future holds
            # its result, so nobody else knows the caller is gone. Give the hold back.
            if taken.done() and not taken.cancelled() and taken.exception() is None:
                self._enqueue(CloseOp(_cancelled_hold_row(op, self._clock()), HoldState.RELEASED))
            raise

    async def settle(self, row: LogRow) -> bool:
        check_row(row)
        return bool(await self._submit(CloseOp(row, HoldState.SETTLED)))

    async def release(self, row: LogRow) -> bool:
        check_row(row)
        return bool(await self._submit(CloseOp(row, HoldState.RELEASED)))

    async def log(self, row: LogRow) -> None:
        check_row(row)
        await self._submit(LogOp(row))

    async def rebuild_stats(self) -> int:
        # The pass over every log row runs on the reader's thread; the writer only swaps the result in.
        if self._readonly or self._state != "open":
            raise LedgerUnavailable("ledger is read-only" if self._readonly else f"ledger is {self._state}")
        try:
            taken = await self._read_db.run(daily.snapshot, self._zone)
        except sqlite3.OperationalError as exc:
            raise LedgerUnavailable(f"ledger read failed: {exc}") from exc
        return int(await self._submit(RebuildStatsOp(taken)) or 0)

    # -- reads -------------------------------------------------------------------------------

    async def balances(self) -> dict[str, TokenBalance]:
        return reads.decode_balances(await self._read(reads.BALANCES_SQL, []))

    async def balance(self, token: str) -> TokenBalance:
        rows = await self._read(reads.BALANCE_SQL, [token])
        return reads.decode_balance(rows[0]) if rows else TokenBalance(token=token, used=0, held=0)

    async def logs(self, query: LogQuery) -> LogPage:
        sql, params = reads.log_page_sql(query)
        return reads.log_page(await self._read(sql, params), query.limit)

    async def daily_stats(self, query: StatsQuery) -> list[DailyStat]:
        sql, params = daily.stats_sql(query)
        return daily.decode_stats(await self._read(sql, params))

    # -- internals ---------------------------------------------------------------------------

    def _submit(self, op: WriteOp) -> asyncio.Future[int | bool | None]:
        if self._readonly:
            raise LedgerUnavailable("this ledger was opened read-only")
        if self._state != "open" or self._write_task is None or self._write_task.done():
            raise LedgerUnavailable(f"ledger is not accepting writes ({self._state})")
        return self._enqueue(op)

    def _enqueue(self, op: WriteOp) -> asyncio.Future[int | bool | None]:
        future: asyncio.Future[int | bool | None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Queued(op, future))
        self._queued += 1
        self._wakeup.set()
        return future

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    await self._let_holds_join()
                    batch = self._pending[: self._max_batch]
                    del self._pending[: self._max_batch]
                    await self._write_batch(batch)
                    self._written += len(batch)
                    self._wake_readers()
                if self._state == "closing":
                    return
        finally:
            # Reached on close with nothing left, or if this task is cancelled: nobody waits forever.
            for queued in self._inflight + self._pending:
                _fail(queued.future, LedgerUnavailable("ledger writer stopped"))
            self._inflight, self._pending = [], []
            self._written = self._queued
            self._wake_readers()

    async def _let_holds_join(self) -> None:
        """When only settlements and releases wait, give a hold a moment to join their batch: nobody
        waits for those (the answers are out), while a hold delays its call until committed. Calls
        back to back on one connection then pay one commit (and one fsync) each instead of two."""
        if self._settle_delay <= 0 or self._state != "open":
            return
        if not all(isinstance(queued.op, CloseOp) for queued in self._pending):
            return
        self._wakeup.clear()  # set by the writes already pending: wait for the next one
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settle_delay):
                await self._wakeup.wait()
        self._wakeup.clear()

    async def _write_batch(self, batch: list[_Queued]) -> None:
        # A hold whose caller already gave up is not taken at all.
        live = [q for q in batch if not (isinstance(q.op, HoldOp) and q.future.cancelled())]
        if not live:
            return
        self._inflight = live  # if this task is cancelled mid-batch, _write_loop fails these
        # Holds are answered as soon as their batch is committed, before its fsync: a hold lost to a
        # power cut carried no charge (the restart would have released it unbilled), and its call
        # should not wait for the disk. Everything else is answered once the fsync is done.
        holds = [i for i, q in enumerate(live) if isinstance(q.op, HoldOp)] if self._sync_wal else []
        loop = asyncio.get_running_loop()

        def committed(results: list[OpResult]) -> None:  # on the writer thread
            if holds:
                loop.call_soon_threadsafe(self._resolve_holds, live, results, holds)

        try:
            results = await self._write_db.run(apply_then_sync, [q.op for q in live], self._boot_id,
                                               self._clock(), self._zone, committed, self._sync_wal)
        except Exception as exc:  # locked, disk full, I/O: the batch rolled back, the writer lives on
            self._inflight = []
            _logger.warning("ledger.batch_failed", ops=len(live), error=str(exc))
            for queued in live:
                _fail(queued.future, LedgerUnavailable(f"ledger write failed: {exc}"))
            return
        self._inflight = []
        early = set(holds)
        for index, (queued, result) in enumerate(zip(live, results, strict=True)):
            if index not in early:
                self._resolve(queued, result)

    def _wake_readers(self) -> None:
        ready = [future for upto, future in self._readers if upto <= self._written]
        self._readers = [(upto, future) for upto, future in self._readers if upto > self._written]
        for future in ready:
            if not future.done():
                future.set_result(None)

    def _resolve_holds(self, live: list[_Queued], results: list[OpResult], holds: list[int]) -> None:
        for index in holds:
            self._resolve(live[index], results[index])

    def _resolve(self, queued: _Queued, result: OpResult) -> None:
        if queued.future.cancelled():
            op = queued.op
            if isinstance(op, HoldOp) and result is None:
                self._enqueue(CloseOp(_cancelled_hold_row(op, self._clock()), HoldState.RELEASED))
            return
        if isinstance(result, Exception):
            queued.future.set_exception(result)
        else:
            queued.future.set_result(result)

    async def _read(self, sql: str, params: list[object]) -> list[Any]:
        if self._state != "open":
            raise LedgerUnavailable(f"ledger is not open ({self._state})")
        # Read your writes: a settlement its handler did not wait for (settlement.py) is committed
        # before a later read looks. Batches are written in order, so counting them is enough.
        if self._written < self._queued:
            waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._readers.append((self._queued, waiting))
            await waiting
        try:
            return await self._read_db.run(reads.fetch_all, sql, params)
        except sqlite3.OperationalError as exc:
            raise LedgerUnavailable(f"ledger read failed: {exc}") from exc

    async def _teardown(self) -> None:
        # Reader first: the writer's TRUNCATE checkpoint and WAL removal want no other connection.
        await self._read_db.close()
        try:
            await self._write_db.close(checkpoint_and_close)
        except sqlite3.Error as exc:  # the data is safe in the WAL; only the tidy-up failed
            _logger.warning("ledger.checkpoint_failed", error=str(exc), path=self._path)


def _fdatasync(path: str) -> None:
    """fdatasync `path` (fsync where there is none). Opened per call: SQLite may remove and recreate
    the WAL file, and a kept descriptor would then sync the old one."""
    fd = os.open(path, os.O_RDONLY)
    try:
        getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)


def _fail(future: asyncio.Future[int | bool | None], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)


def _cancelled_hold_row(op: HoldOp, now: float) -> LogRow:
    return LogRow(request_id=op.request_id, token=op.token, model=op.model, time=now, status=499,
                  outcome=Outcome.CANCELLED, error=CANCELLED_HOLD_ERROR)


async def read_balances(path: str) -> dict[str, TokenBalance]:
    """Balances from a ledger file without a running gateway; never writes, never blocks a writer."""
    ledger = SqliteLedger(path, readonly=True)
    await ledger.open()
    try:
        return await ledger.balances()
    finally:
        await ledger.close()


async def read_logs(path: str, query: LogQuery) -> LogPage:
    """One page of log rows from a ledger file without a running gateway (see read_balances)."""
    ledger = SqliteLedger(path, readonly=True)
    await ledger.open()
    try:
        return await ledger.logs(query)
    finally:
        await ledger.close()


async def rebuild_stats_file(path: str, busy_timeout_ms: int = 5000) -> tuple[str, int]:
    """Rebuild the daily statistics of a ledger file from its log rows without a running gateway (or
    beside one: see daily.rebuild_file). Returns (time zone of the days, log rows counted)."""
    try:
        return await asyncio.to_thread(daily.rebuild_file, path, busy_timeout_ms)
    except sqlite3.Error as exc:
        raise LedgerUnavailable(f"cannot rebuild the statistics of {path}: {exc}") from exc
