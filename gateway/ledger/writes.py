"""Synchronous SQLite work done on the ledger's writer thread: connect, migrate, recover, and each kind
of write applied on its own (batches.py puts them together into one transaction).

Nothing here awaits; `SqliteLedger` runs each function in one hop on its writer thread (see
connection.py), so a whole batch of holds and settlements costs one thread switch and one fsync.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.ledger import daily
from gateway.ledger.base import HoldState, LedgerUnavailable, LogRow, Outcome, QuotaExceeded
from gateway.ledger.schema import LOG_COLUMNS, MIGRATIONS, SCHEMA_VERSION

SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})

# A hold the process never closed, reported at the next start. No HTTP status is known for it
# (the process died before the response completed), so the row says 0 and the outcome says why.
ABANDONED_STATUS = 0
ABANDONED_ERROR = "gateway stopped before the call finished; hold released at restart"

INSERT_LOG = (
    f"INSERT INTO logs ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' * len(LOG_COLUMNS))})"
)


@dataclass(frozen=True, slots=True)
class HoldOp:
    request_id: str
    token: str
    grant: int | None
    amount: int
    model: str


@dataclass(frozen=True, slots=True)
class CloseOp:
    """Settle (charge row.quota) or release (charge nothing) an open hold and write its row."""

    row: LogRow
    state: HoldState  # SETTLED or RELEASED


@dataclass(frozen=True, slots=True)
class LogOp:
    row: LogRow


@dataclass(frozen=True, slots=True)
class RebuildStatsOp:
    """Replace the daily statistics by `snapshot` (taken from the log rows by the reader) plus the rows
    logged since; queued like any write, so it sees every row committed before it."""

    snapshot: daily.Snapshot


WriteOp = HoldOp | CloseOp | LogOp | RebuildStatsOp
# Per op: hold → None, settle/release → bool, log → None, rebuild → rows counted; or the exception
# that op raised.
OpResult = bool | int | None | Exception

# Errors caused by one op's data (duplicate id, unbindable value), not by the database's health.
OP_LEVEL_SQLITE_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


# WAL frames (pages) after which a commit checkpoints them into the database file: SQLite's default,
# stated so that a test holds it. The checkpoint runs inside the commit that crosses the mark, on the
# writer thread (a copy and two fsyncs), and the holds of that batch wait for it. 4,000 was measured:
# better p99 for steady lone calls, a worse one right after heavy load (docs/benchmarks.md, third session).
WAL_CHECKPOINT_PAGES = 1000


def connect_writer(path: str, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open the one read-write connection, creating the file's directory if missing."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LedgerUnavailable(f"{path}: cannot switch to WAL (journal_mode is {mode})")
        set_synchronous(db, synchronous)
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    except BaseException:
        db.close()
        raise
    return db


def set_synchronous(db: sqlite3.Connection, level: str) -> None:
    if level not in SYNCHRONOUS_MODES:
        raise ValueError(f"unknown synchronous level {level!r}")
    db.execute(f"PRAGMA synchronous = {level}")


def migrate(db: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise LedgerUnavailable(
            f"ledger schema version {version} is newer than this gateway's ({SCHEMA_VERSION})"
        )
    for index in range(version, SCHEMA_VERSION):
        try:
            db.executescript(
                f"BEGIN IMMEDIATE;\n{MIGRATIONS[index]}\nPRAGMA user_version = {index + 1};\nCOMMIT;"
            )
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def recover_abandoned(db: sqlite3.Connection, boot_id: str, now: float, zone: ZoneInfo) -> int:
    """Release, in one transaction, every hold another process left open; one log row each."""
    db.execute("BEGIN IMMEDIATE")
    try:
        orphans = db.execute(
            "UPDATE holds SET state = ?, closed_at = ? WHERE state = 'open' AND boot_id != ?"
            " RETURNING request_id, token, model, amount, created_at",
            (HoldState.ABANDONED.value, now, boot_id),
        ).fetchall()
        for request_id, token, model, amount, created_at in orphans:
            row = LogRow(request_id=request_id, token=token, model=model, time=created_at,
                         status=ABANDONED_STATUS, outcome=Outcome.ABANDONED, error=ABANDONED_ERROR)
            # hold() and log() keep a request id from having both an open hold and a row; should
            # one exist anyway, skip its row rather than refuse to start.
            logged = db.execute(f"{INSERT_LOG} ON CONFLICT (request_id) DO NOTHING",
                                log_params(row, now)).rowcount
            if logged:
                daily.add_row(db, row, created_at, zone)
            db.execute(
                "UPDATE token_usage SET held = held - ?, requests = requests + ? WHERE token = ?",
                (amount, logged, token),
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return len(orphans)


def checkpoint_and_close(db: sqlite3.Connection) -> None:
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


class Refused(ValueError):
    """An op refused by a check made before it wrote anything."""


def hold_one(db: sqlite3.Connection, op: HoldOp, boot_id: str, now: float) -> None:
    if db.execute("SELECT 1 FROM logs WHERE request_id = ?", (op.request_id,)).fetchone():
        raise already_logged(op)
    # Check and hold in one statement: no row changes unless grant − used − held ≥ amount.
    cursor = db.execute(
        "UPDATE token_usage SET held = held + :amount WHERE token = :token"
        " AND (:grant IS NULL OR :grant - used - held >= :amount)",
        {"amount": op.amount, "token": op.token, "grant": op.grant},
    )
    if cursor.rowcount == 0:
        known = db.execute("SELECT used, held FROM token_usage WHERE token = ?", (op.token,)).fetchone()
        used, held = known if known is not None else (0, 0)
        if known is not None or (op.grant is not None and op.grant < op.amount):
            # Nothing written yet (the UPDATE matched no row): apply_batch needs no savepoint for it.
            raise no_room(op, used, held)
        db.execute("INSERT INTO token_usage (token, held) VALUES (?, ?)", (op.token, op.amount))
    db.execute(
        "INSERT INTO holds (request_id, token, model, amount, state, boot_id, created_at)"
        " VALUES (?, ?, ?, ?, 'open', ?, ?)",
        (op.request_id, op.token, op.model, op.amount, boot_id, now),
    )


def already_logged(op: HoldOp) -> Refused:
    return Refused(f"request {op.request_id!r} already has its log row; it cannot hold again")


def no_room(op: HoldOp, used: int, held: int) -> QuotaExceeded:
    return QuotaExceeded(f"token {op.token!r}: grant {op.grant} − used {used} − held {held} < {op.amount}")


def wrong_token(op: CloseOp, token: str) -> str:
    return f"hold {op.row.request_id!r} belongs to token {token!r}, not {op.row.token!r}"


def row_to_write(op: CloseOp) -> LogRow:
    """The row a close writes: a release bills nothing, whatever its row says."""
    return op.row if op.state is HoldState.SETTLED else dataclasses.replace(op.row, quota=0)


def close_one(db: sqlite3.Connection, op: CloseOp, now: float, zone: ZoneInfo) -> bool:
    row = row_to_write(op)
    closed = db.execute(
        "UPDATE holds SET state = ?, closed_at = ? WHERE request_id = ? AND state = 'open'"
        " RETURNING token, amount",
        (op.state.value, now, row.request_id),
    ).fetchall()
    if not closed:
        return False  # never held, or already settled/released/abandoned: change nothing
    token, amount = closed[0]
    if token != row.token:
        raise ValueError(wrong_token(op, token))  # after the UPDATE above, so not a Refused
    db.execute(
        "UPDATE token_usage SET used = used + ?, held = held - ?, requests = requests + 1"
        " WHERE token = ?",
        (row.quota, amount, token),
    )
    _insert_log(db, row, now, zone)
    return True


def log_one(db: sqlite3.Connection, row: LogRow, now: float, zone: ZoneInfo) -> None:
    if db.execute("SELECT 1 FROM holds WHERE request_id = ?", (row.request_id,)).fetchone():
        raise Refused(f"request {row.request_id!r} took a hold: settle or release it instead")
    db.execute(
        "INSERT INTO token_usage (token, requests) VALUES (?, 1)"
        " ON CONFLICT (token) DO UPDATE SET requests = requests + 1",
        (row.token,),
    )
    _insert_log(db, dataclasses.replace(row, quota=0), now, zone)


def _insert_log(db: sqlite3.Connection, row: LogRow, now: float, zone: ZoneInfo) -> None:
    """The call's one log row and its share of the daily statistics, in the same transaction."""
    db.execute(INSERT_LOG, log_params(row, now))
    daily.add_row(db, row, row.time or now, zone)


def log_params(row: LogRow, now: float) -> tuple[object, ...]:
    return (
        row.request_id, row.token, row.model, row.time or now, row.upstream_model, row.channel,
        row.protocol, row.endpoint, int(row.stream), row.status, Outcome(row.outcome).value,
        row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.cache_write_tokens,
        row.reasoning_tokens, row.quota, row.request_time_ms, row.first_byte_ms, row.client_ip,
        row.error, row.attempts, int(row.usage_estimated), row.flags,
    )


_INT64_LIMIT = 2**63
_ROW_INTEGERS = ("status", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
                 "reasoning_tokens", "request_time_ms", "attempts")


def check_integer(name: str, value: object, *, minimum: int = -_INT64_LIMIT) -> None:
    """Refuse what SQLite cannot store as INTEGER before it reaches a batch."""
    if not isinstance(value, int) or not minimum <= value < _INT64_LIMIT:
        raise ValueError(f"{name} must be an integer in [{minimum}, 2**63), got {value!r}")


def check_row(row: LogRow) -> None:
    """Validate a row on the caller's side, so one bad row cannot fail the batch it would join."""
    if not row.request_id or not row.token:
        raise ValueError("a log row needs a request_id and a token")
    for name in _ROW_INTEGERS:
        check_integer(name, getattr(row, name))
    check_integer("quota", row.quota, minimum=0)
    if row.first_byte_ms is not None:
        check_integer("first_byte_ms", row.first_byte_ms)
    Outcome(row.outcome)  # ValueError for an unknown outcome
