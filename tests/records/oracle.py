"""An independent recomputation of the daily statistics straight from the log rows of a ledger file,
and the table as the ledger keeps it, both as {(day, token, channel, model): {column: value}}."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from contextlib import closing
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.ledger.latency import BOUNDS_MS, COLUMNS

Key = tuple[str, str, str, str]
SUMS = ("requests", "errors", "cancelled", "quota", "prompt_tokens", "completion_tokens", "cached_tokens",
        "cache_write_tokens", "reasoning_tokens", "request_time_ms", "first_byte_ms", "first_byte_count")


def _bucket(ms: int) -> str:
    for bound, column in zip(BOUNDS_MS, COLUMNS, strict=False):
        if ms <= bound:
            return column
    return COLUMNS[-1]


def expected(path: str, zone: str) -> dict[Key, dict[str, int]]:
    """What the table must hold: every log row of the file folded by hand, days in `zone`."""
    tz = ZoneInfo(zone)
    table: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*SUMS, *COLUMNS, "latency_max_ms"), 0))
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT time, token, channel, model, outcome, quota, prompt_tokens, completion_tokens,"
                          " cached_tokens, cache_write_tokens, reasoning_tokens, request_time_ms, first_byte_ms"
                          " FROM logs").fetchall()
    for (when, token, channel, model, outcome, quota, prompt, completion, cached, cache_write, reasoning,
         request_ms, first_byte) in rows:
        day = datetime.fromtimestamp(when, tz).strftime("%Y-%m-%d")
        entry = table[(day, token, channel, model)]
        entry["requests"] += 1
        entry["errors"] += outcome in ("error", "abandoned")
        entry["cancelled"] += outcome == "cancelled"
        for name, value in (("quota", quota), ("prompt_tokens", prompt), ("completion_tokens", completion),
                            ("cached_tokens", cached), ("cache_write_tokens", cache_write),
                            ("reasoning_tokens", reasoning), ("request_time_ms", request_ms)):
            entry[name] += value
        if first_byte is not None:
            entry["first_byte_ms"] += first_byte
            entry["first_byte_count"] += 1
        if outcome == "ok":
            entry[_bucket(request_ms)] += 1
            entry["latency_max_ms"] = max(entry["latency_max_ms"], request_ms)
    return dict(table)


def kept(path: str) -> dict[Key, dict[str, int]]:
    """The daily_stats table as it is in the file."""
    with closing(sqlite3.connect(path)) as db:
        cursor = db.execute("SELECT * FROM daily_stats")
        names = [column[0] for column in cursor.description]
        return {tuple(row[:4]): dict(zip(names[4:], row[4:], strict=True)) for row in cursor.fetchall()}


def stats_zone(path: str) -> Any:
    with closing(sqlite3.connect(path)) as db:
        found = db.execute("SELECT value FROM ledger_meta WHERE key = 'stats_timezone'").fetchone()
    return found[0] if found else None
