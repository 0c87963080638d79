"""The daily statistics table: each log row added as it is written, a rebuild from the log rows, the time
zone its days are in, and the query that reads it. Synchronous SQL, run on a ledger connection's thread.

A day is the row's time as a date in the statistics zone (`server.timezone`), stored in ledger_meta so
that a reader knows it and a gateway started with another zone rebuilds the table before writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.ledger import latency
from gateway.ledger.base import (
    STAT_SPLITS,
    SUMMED_STAT_FIELDS,
    DailyStat,
    LedgerUnavailable,
    LogRow,
    StatsQuery,
)
from gateway.ledger.schema import SCHEMA_VERSION

ZONE_KEY = "stats_timezone"
_KEY = ("day", "token", "channel", "model")
_COUNTERS = (*SUMMED_STAT_FIELDS, *latency.COLUMNS)  # added together when two rows meet
_COLUMNS = (*_KEY, *_COUNTERS, "latency_max_ms")

_INSERT = f"INSERT INTO daily_stats ({', '.join(_COLUMNS)})"
_VALUES = f" VALUES ({', '.join('?' * len(_COLUMNS))})"
_ADD_ON_CONFLICT = (
    f" ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{column} = {column} + excluded.{column}" for column in _COUNTERS)
    + ", latency_max_ms = max(latency_max_ms, excluded.latency_max_ms)"
)
_UPSERT = _INSERT + _VALUES + _ADD_ON_CONFLICT
_LAST_ID = 2**63 - 1

# latency.bucket_of as SQL: the first bound a duration is within, else the overflow bucket.
_BUCKET_SQL = ("CASE " + " ".join(f"WHEN request_time_ms <= {bound} THEN {index}"
                                  for index, bound in enumerate(latency.BOUNDS_MS))
               + f" ELSE {len(latency.BOUNDS_MS)} END")

# The sums add_row makes, over the log rows with id in (?, ?]. gateway_day is DayOf, registered on the
# connection. `LIMIT -1` keeps SQLite from flattening the subquery into the aggregate, which would run
# gateway_day and the bucket CASE once per use instead of once per row (three times slower).
_AGGREGATE = f"""
SELECT day, token, channel, model, count(*),
       count(CASE WHEN outcome IN ('error', 'abandoned') THEN 1 END),
       count(CASE WHEN outcome = 'cancelled' THEN 1 END),
       sum(quota), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), sum(cache_write_tokens),
       sum(reasoning_tokens), sum(request_time_ms), coalesce(sum(first_byte_ms), 0), count(first_byte_ms),
       {', '.join(f'count(CASE WHEN bucket = {index} THEN 1 END)' for index in range(latency.BUCKETS))},
       max(0, coalesce(max(CASE WHEN outcome = 'ok' THEN request_time_ms END), 0))
FROM (SELECT time, token, channel, model, outcome, quota, prompt_tokens, completion_tokens, cached_tokens,
             cache_write_tokens, reasoning_tokens, request_time_ms, first_byte_ms, gateway_day(time) AS day,
             CASE WHEN outcome = 'ok' THEN {_BUCKET_SQL} END AS bucket
      FROM logs WHERE id > ? AND id <= ? LIMIT -1)
GROUP BY day, token, channel, model
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The statistics of every log row with id ≤ `upto`, as daily_stats rows."""

    upto: int = 0
    rows: tuple[tuple[Any, ...], ...] = ()


def day_of(when: float, zone: ZoneInfo) -> str:
    """The date (YYYY-MM-DD) in `zone` at unix time `when`."""
    return datetime.fromtimestamp(when, zone).date().isoformat()


class DayOf:
    """day_of for one zone, remembering the last day's bounds: rows come roughly in time order, so a
    rebuild mostly compares two floats instead of converting every row's time."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._start = self._end = 0.0
        self._day = ""

    def __call__(self, when: float) -> str:
        if not self._start <= when < self._end:
            today = datetime.fromtimestamp(when, self._zone).date()
            tomorrow = today + timedelta(days=1)
            self._start = datetime(today.year, today.month, today.day, tzinfo=self._zone).timestamp()
            self._end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=self._zone).timestamp()
            self._day = today.isoformat()
            if not self._start <= when < self._end:  # a moment a DST change makes ambiguous: no caching
                self._start = self._end = 0.0
        return self._day


def add_row(db: sqlite3.Connection, row: LogRow, when: float, zone: ZoneInfo) -> None:
    """Add one log row, stored with time `when`, to its day's statistics (inside the caller's
    transaction, so the row and its statistics commit or roll back together)."""
    db.execute(_UPSERT, row_params(row, when, zone))


def add_rows(db: sqlite3.Connection, params: Sequence[tuple[object, ...]]) -> None:
    """add_row for many rows at once, given their row_params (one statement, applied in order)."""
    db.executemany(_UPSERT, params)


def row_params(row: LogRow, when: float, zone: ZoneInfo) -> tuple[object, ...]:
    stat = DailyStat.of_row(row, day_of(when, zone))
    return (stat.day, row.token, row.channel, row.model,
            *(getattr(stat, name) for name in SUMMED_STAT_FIELDS), *stat.latency, stat.latency_max_ms)


def snapshot(db: sqlite3.Connection, zone: ZoneInfo) -> Snapshot:
    """A rebuild's long part, in a read transaction of its own (under WAL it never blocks the writer):
    the statistics of every log row written so far."""
    db.create_function("gateway_day", 1, DayOf(zone), deterministic=True)
    db.execute("BEGIN")
    try:
        upto = int(db.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0])
        rows = tuple(db.execute(_AGGREGATE, (0, upto)).fetchall())
    finally:
        db.execute("COMMIT")
    return Snapshot(upto, rows)


def install(db: sqlite3.Connection, zone: ZoneInfo, taken: Snapshot) -> int:
    """A rebuild's short part, inside the caller's write transaction: the snapshot replaces the table,
    then the rows logged since it was taken are added. Log rows are never changed once written, so the
    result is the recomputation of every row at commit. Returns the number of log rows counted."""
    db.create_function("gateway_day", 1, DayOf(zone), deterministic=True)
    db.execute("DELETE FROM daily_stats")
    db.executemany(_INSERT + _VALUES, taken.rows)
    db.execute(_INSERT + _AGGREGATE + _ADD_ON_CONFLICT, (taken.upto, _LAST_ID))
    return int(db.execute("SELECT coalesce(sum(requests), 0) FROM daily_stats").fetchone()[0])


def rebuild(db: sqlite3.Connection, zone: ZoneInfo) -> int:
    """Replace every statistic by a recomputation from the log rows, inside the caller's transaction.
    Returns the number of log rows counted."""
    return install(db, zone, Snapshot())


def read_zone(db: sqlite3.Connection) -> str | None:
    found = db.execute("SELECT value FROM ledger_meta WHERE key = ?", (ZONE_KEY,)).fetchone()
    return str(found[0]) if found else None


def ensure_zone(db: sqlite3.Connection, zone: ZoneInfo) -> tuple[str | None, int] | None:
    """Make `zone` the statistics zone. If the table is in another zone (or in none yet: a new or
    just-migrated ledger), rebuild it from the log rows in one transaction and return
    (previous zone, log rows counted); None when nothing had to change."""
    db.execute("BEGIN IMMEDIATE")
    try:
        previous = read_zone(db)
        if previous == zone.key:
            db.execute("COMMIT")
            return None
        counted = rebuild(db, zone)
        db.execute("INSERT INTO ledger_meta (key, value) VALUES (?, ?)"
                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (ZONE_KEY, zone.key))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return previous, counted


def rebuild_file(path: str, busy_timeout_ms: int) -> tuple[str, int]:
    """Rebuild the statistics of the ledger file at `path` in the zone they are kept in, from outside
    the gateway, which may be running: the long pass over the log rows only reads, and the write lock is
    held just to swap the table in and add the rows logged meanwhile. Returns (zone, log rows counted)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            raise LedgerUnavailable(f"ledger schema version {version}, this gateway writes {SCHEMA_VERSION}:"
                                    " start the gateway once to bring the file up to date")
        name = read_zone(db)
        if name is None:
            raise LedgerUnavailable("the ledger has no statistics zone yet: start the gateway once")
        zone = ZoneInfo(name)
        taken = snapshot(db, zone)
        db.execute("BEGIN IMMEDIATE")
        try:
            if read_zone(db) != name:
                raise LedgerUnavailable("the statistics zone changed during the rebuild; run it again")
            counted = install(db, zone, taken)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    finally:
        db.close()
    return name, counted


def stats_sql(query: StatsQuery) -> tuple[str, list[object]]:
    """SELECT of summed statistics per day (and per `query.by`), by day then by quota, largest first."""
    if query.by is not None and query.by not in STAT_SPLITS:
        raise ValueError(f"split by one of {', '.join(STAT_SPLITS)}, not {query.by!r}")
    where: list[str] = []
    params: list[object] = []
    for column, value in (("token", query.token), ("model", query.model), ("channel", query.channel)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        where.append("day >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("day <= ?")
        params.append(query.until)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    key = query.by or "NULL"
    groups = f"day, {query.by}" if query.by else "day"
    sums = ", ".join(f"sum({column})" for column in _COUNTERS)
    return (f"SELECT day, {key}, {sums}, max(latency_max_ms) FROM daily_stats{clause}"
            f" GROUP BY {groups} ORDER BY day, sum(quota) DESC, {key}"), params


def decode_stats(rows: Sequence[Sequence[Any]]) -> list[DailyStat]:
    summed = len(SUMMED_STAT_FIELDS)
    stats = []
    for row in rows:
        values = [int(value) for value in row[2:]]
        stats.append(DailyStat(
            day=row[0], key=row[1], **dict(zip(SUMMED_STAT_FIELDS, values[:summed], strict=True)),
            latency=tuple(values[summed:summed + latency.BUCKETS]), latency_max_ms=values[-1],
        ))
    return stats
