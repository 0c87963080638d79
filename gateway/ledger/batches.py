"""Applying a batch of ledger writes in one transaction, on the writer thread (see sqlite.py).

One op after another would do; the shortcuts here make a batch cheaper without changing what it does
(tests/ledger/test_batches.py checks any batch ends exactly as its ops applied one by one): no savepoint
per op while ops refuse before writing, and runs of holds or of settlements written with one statement
per table. An op that fails after writing sends the whole batch to the careful path.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import TypeVar
from zoneinfo import ZoneInfo

from gateway.ledger import daily
from gateway.ledger.base import LogRow, QuotaExceeded
from gateway.ledger.writes import (
    INSERT_LOG,
    OP_LEVEL_SQLITE_ERRORS,
    CloseOp,
    HoldOp,
    LogOp,
    OpResult,
    Refused,
    WriteOp,
    already_logged,
    close_one,
    hold_one,
    log_one,
    log_params,
    no_room,
    row_to_write,
    wrong_token,
)


def apply_batch(db: sqlite3.Connection, ops: list[WriteOp], boot_id: str, now: float, zone: ZoneInfo
                ) -> list[OpResult]:
    """Apply ops in order inside one BEGIN IMMEDIATE … COMMIT.

    An op that fails on its own (quota, duplicate id, mismatched token) is reported and changes
    nothing; the others still commit. A database-level failure (locked, disk full, I/O) rolls the
    whole batch back and raises.

    Ops run without a savepoint each (two statements saved per op, a third of a call's statements):
    the usual refusals (quota, a request id already logged) are raised before their op writes
    anything. Any other op-level failure may leave half an op behind, so the batch is rolled back
    and applied again the careful way, with a savepoint around every op. Holds that follow each other,
    and settlements and releases that follow each other, are written together (_hold_many, _close_many).
    """
    try:
        with _immediate(db):
            return _apply_in_runs(db, ops, boot_id, now, zone)
    except _HalfWritten:
        return _apply_batch_with_savepoints(db, ops, boot_id, now, zone)


def _apply_in_runs(db: sqlite3.Connection, ops: list[WriteOp], boot_id: str, now: float, zone: ZoneInfo
                   ) -> list[OpResult]:
    results: list[OpResult] = []
    start = 0
    while start < len(ops):
        holds = _run_of(HoldOp, ops, start, lambda op: op.request_id)
        closes = _run_of(CloseOp, ops, start, lambda op: op.row.request_id)
        try:
            if holds:
                results += _hold_many(db, holds, boot_id, now)
            elif closes:
                results += _close_many(db, closes, now, zone)
            else:
                results.append(_apply_op(db, ops[start], boot_id, now, zone))
        except _REFUSED_BEFORE_WRITING as exc:
            results.append(exc)
        except Exception as exc:
            if _is_database_failure(exc):
                raise
            raise _HalfWritten from exc
        start += max(len(holds), len(closes), 1)
    return results


def apply_then_sync(db: sqlite3.Connection, ops: list[WriteOp], boot_id: str, now: float, zone: ZoneInfo,
                    committed: Callable[[list[OpResult]], None], sync: Callable[[], None] | None
                    ) -> list[OpResult]:
    """apply_batch, then `committed(results)` while the batch is in the OS page cache (safe from a
    killed process), then `sync()`, the fsync that makes it survive a power cut, before returning."""
    results = apply_batch(db, ops, boot_id, now, zone)
    committed(results)
    if sync is not None:
        sync()
    return results


def _apply_batch_with_savepoints(db: sqlite3.Connection, ops: list[WriteOp], boot_id: str, now: float,
                                 zone: ZoneInfo) -> list[OpResult]:
    with _immediate(db):
        return [_apply_one(db, op, boot_id, now, zone) for op in ops]


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception, a failed COMMIT included. SQLite may
    already have rolled back on SQLITE_FULL / IOERR, so only what is still open is rolled back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class _HalfWritten(Exception):
    """An op failed after it may have written part of itself: the batch goes the careful way."""


def _apply_one(db: sqlite3.Connection, op: WriteOp, boot_id: str, now: float, zone: ZoneInfo) -> OpResult:
    db.execute("SAVEPOINT op")
    try:
        result = _apply_op(db, op, boot_id, now, zone)
    except Exception as exc:
        if _is_database_failure(exc):
            raise  # the database itself is failing (locked, full, I/O, corrupt): fail the batch
        db.execute("ROLLBACK TO op")
        db.execute("RELEASE op")
        if isinstance(exc, sqlite3.Error):
            return ValueError(f"ledger refused the write: {exc}")
        return exc
    db.execute("RELEASE op")
    return result


def _apply_op(db: sqlite3.Connection, op: WriteOp, boot_id: str, now: float, zone: ZoneInfo) -> OpResult:
    if isinstance(op, HoldOp):
        hold_one(db, op, boot_id, now)
        return None
    if isinstance(op, CloseOp):
        return close_one(db, op, now, zone)
    if isinstance(op, LogOp):
        log_one(db, op.row, now, zone)
        return None
    return daily.install(db, zone, op.snapshot)


def _is_database_failure(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, OP_LEVEL_SQLITE_ERRORS)


_REFUSED_BEFORE_WRITING = (QuotaExceeded, Refused)


_Op = TypeVar("_Op", HoldOp, CloseOp)


def _run_of(kind: type[_Op], ops: list[WriteOp], start: int, request_id: Callable[[_Op], str]) -> list[_Op]:
    """The ops of `kind` from `start` on, up to the first other op, if their request ids are distinct
    (a second op on the same id must see the first: those go one by one, and so does a run of one)."""
    run: list[_Op] = []
    for op in ops[start:]:
        if not isinstance(op, kind):
            break
        run.append(op)
    return run if len(run) > 1 and len({request_id(op) for op in run}) == len(run) else []


def _hold_many(db: sqlite3.Connection, ops: list[HoldOp], boot_id: str, now: float) -> list[OpResult]:
    """What _hold does for each of `ops` (distinct request ids, back to back in one batch): the checks
    made in order on the balances read once, then one statement each for the whole run. Same results,
    same messages, same rows as _hold one by one."""
    marks = ",".join("?" * len(ops))
    logged = {request_id for (request_id,) in db.execute(
        f"SELECT request_id FROM logs WHERE request_id IN ({marks})", [op.request_id for op in ops])}
    names = sorted({op.token for op in ops})
    balances = {token: [used, held] for token, used, held in db.execute(
        f"SELECT token, used, held FROM token_usage WHERE token IN ({','.join('?' * len(names))})", names)}
    known = set(balances)
    results: list[OpResult] = []
    taken: list[HoldOp] = []
    for op in ops:
        if op.request_id in logged:
            results.append(already_logged(op))
            continue
        used, held = balances.get(op.token, (0, 0))
        if op.grant is not None and op.grant - used - held < op.amount:
            results.append(no_room(op, used, held))
            continue
        balances[op.token] = [used, held + op.amount]
        taken.append(op)
        results.append(None)
    if not taken:
        return results
    more: dict[str, int] = {}
    for op in taken:
        more[op.token] = more.get(op.token, 0) + op.amount
    db.executemany("INSERT INTO token_usage (token, held) VALUES (?, ?)",
                   [(token, amount) for token, amount in more.items() if token not in known])
    db.executemany("UPDATE token_usage SET held = held + ? WHERE token = ?",
                   [(amount, token) for token, amount in more.items() if token in known])
    db.executemany(
        "INSERT INTO holds (request_id, token, model, amount, state, boot_id, created_at)"
        " VALUES (?, ?, ?, ?, 'open', ?, ?)",
        [(op.request_id, op.token, op.model, op.amount, boot_id, now) for op in taken])
    return results


def _close_many(db: sqlite3.Connection, ops: list[CloseOp], now: float, zone: ZoneInfo) -> list[OpResult]:
    """What _close does for each of `ops` (distinct request ids, back to back in one batch), with each
    statement run once for all of them. Under load a batch holds dozens of settlements: one statement
    each instead of four per settlement keeps the writer's Python, which holds the GIL the event loop
    needs, short. Same results, same rows, same order as _close one by one."""
    marks = ",".join("?" * len(ops))
    open_holds = {request_id: (token, amount) for request_id, token, amount in db.execute(
        f"SELECT request_id, token, amount FROM holds WHERE state = 'open' AND request_id IN ({marks})",
        [op.row.request_id for op in ops])}
    results: list[OpResult] = []
    closing: list[tuple[CloseOp, LogRow, int]] = []
    for op in ops:
        found = open_holds.get(op.row.request_id)
        if found is None:
            results.append(False)  # never held, or already closed: change nothing
            continue
        token, amount = found
        if token != op.row.token:  # refused before anything is written for it
            results.append(Refused(wrong_token(op, token)))
            continue
        row = row_to_write(op)
        closing.append((op, row, amount))
        results.append(True)
    if not closing:
        return results
    db.executemany("UPDATE holds SET state = ?, closed_at = ? WHERE request_id = ?",
                   [(op.state.value, now, row.request_id) for op, row, _ in closing])
    per_token: dict[str, tuple[int, int, int]] = {}
    for _, row, amount in closing:
        used, held, requests = per_token.get(row.token, (0, 0, 0))
        per_token[row.token] = (used + row.quota, held + amount, requests + 1)
    db.executemany("UPDATE token_usage SET used = used + ?, held = held - ?, requests = requests + ?"
                   " WHERE token = ?", [(*sums, token) for token, sums in per_token.items()])
    db.executemany(INSERT_LOG, [log_params(row, now) for _, row, _ in closing])
    daily.add_rows(db, [daily.row_params(row, row.time or now, zone) for _, row, _ in closing])
    return results
