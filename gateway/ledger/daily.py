"""The daily statistics table: each log row added as it is written, a rebuild from the log rows, the time
zone its days are in, and the query that reads it. Synchronous SQL, run on a ledger connection's thread.

A day is the row's time as a date in the statistics zone (`server.timezone`), stored in ledger_meta so
that a reader knows it and a gateway started with another zone rebuilds the table before writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
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

_UPSERT = (
    f"INSERT INTO daily_stats ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    f" ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{column} = {column} + excluded.{column}" for column in _COUNTERS)
    + ", latency_max_ms = max(latency_max_ms, excluded.latency_max_ms)"
)

# The same sums as add_row, over every log row at once. gateway_day and gateway_bucket are day_of and
# latency.bucket_of registered on the connection, so both paths share one definition of each.
_REBUILD = f"""
INSERT INTO daily_stats ({', '.join(_COLUMNS)})
SELECT day, token, channel, model, count(*),
       count(CASE WHEN outcome IN ('error', 'abandoned') THEN 1 END),
       count(CASE WHEN outcome = 'cancelled' THEN 1 END),
       sum(quota), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), sum(cache_write_tokens),
       sum(reasoning_tokens), sum(request_time_ms), coalesce(sum(first_byte_ms), 0), count(first_byte_ms),
       {', '.join(f'count(CASE WHEN bucket = {index} THEN 1 END)' for index in range(latency.BUCKETS))},
       max(0, coalesce(max(CASE WHEN outcome = 'ok' THEN request_time_ms END), 0))
FROM (SELECT *, gateway_day(time) AS day,
             CASE WHEN outcome = 'ok' THEN gateway_bucket(request_time_ms) END AS bucket
      FROM logs)
GROUP BY day, token, channel, model
"""


def day_of(when: float, zone: ZoneInfo) -> str:
    """The date (YYYY-MM-DD) in `zone` at unix time `when`."""
    return datetime.fromtimestamp(when, zone).date().isoformat()


def add_row(db: sqlite3.Connection, row: LogRow, when: float, zone: ZoneInfo) -> None:
    """Add one log row, stored with time `when`, to its day's statistics (inside the caller's
    transaction, so the row and its statistics commit or roll back together)."""
    stat = DailyStat.of_row(row, day_of(when, zone))
    db.execute(_UPSERT, (stat.day, row.token, row.channel, row.model,
                         *(getattr(stat, name) for name in SUMMED_STAT_FIELDS), *stat.latency,
                         stat.latency_max_ms))


def rebuild(db: sqlite3.Connection, zone: ZoneInfo) -> int:
    """Replace every statistic by a recomputation from the log rows, inside the caller's transaction.
    Returns the number of log rows counted."""
    db.create_function("gateway_day", 1, lambda when: day_of(when, zone), deterministic=True)
    db.create_function("gateway_bucket", 1, latency.bucket_of, deterministic=True)
    db.execute("DELETE FROM daily_stats")
    db.execute(_REBUILD)
    return int(db.execute("SELECT coalesce(sum(requests), 0) FROM daily_stats").fetchone()[0])


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
    the gateway (which may be running: the rebuild waits for its lock, and its later rows add to the
    rebuilt table). Returns (zone, log rows counted)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            raise LedgerUnavailable(f"ledger schema version {version}, this gateway writes {SCHEMA_VERSION}:"
                                    " start the gateway once to bring the file up to date")
        db.execute("BEGIN IMMEDIATE")
        try:
            name = read_zone(db)
            if name is None:
                raise LedgerUnavailable("the ledger has no statistics zone yet: start the gateway once")
            counted = rebuild(db, ZoneInfo(name))
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
