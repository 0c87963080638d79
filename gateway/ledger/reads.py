"""The ledger's read side: a read-only connection, log pages with filters and a cursor, balances."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.ledger.base import LedgerUnavailable, LogPage, LogQuery, LogRow, Outcome, TokenBalance
from gateway.ledger.schema import LOG_COLUMNS, SCHEMA_VERSION

BALANCES_SQL = "SELECT token, used, held, requests FROM token_usage ORDER BY token"
BALANCE_SQL = "SELECT token, used, held, requests FROM token_usage WHERE token = ?"

_SELECT_LOGS = f"SELECT id, {', '.join(LOG_COLUMNS)} FROM logs"


def connect_reader(uri: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open `uri` (a `mode=ro` file URI) for reading; refuse a file this code cannot read."""
    db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        db.execute("PRAGMA query_only = ON")
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            raise LedgerUnavailable(f"ledger schema version {version}, this gateway reads {SCHEMA_VERSION}")
    except BaseException:
        db.close()
        raise
    return db


def fetch_all(db: sqlite3.Connection, sql: str, params: Sequence[object]) -> list[Any]:
    return db.execute(sql, params).fetchall()


def log_page_sql(query: LogQuery) -> tuple[str, list[object]]:
    """SELECT for one page, newest first; asks for one row more than the page to know if more exist."""
    if query.limit < 1:
        raise ValueError(f"limit must be at least 1, got {query.limit}")
    where: list[str] = []
    params: list[object] = []
    for column, value in (("token", query.token), ("model", query.model), ("channel", query.channel),
                          ("outcome", query.outcome), ("status", query.status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        where.append("time >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("time < ?")
        params.append(query.until)
    if query.before_id is not None:
        where.append("id < ?")
        params.append(query.before_id)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    params.append(query.limit + 1)
    return f"{_SELECT_LOGS}{clause} ORDER BY id DESC LIMIT ?", params


def log_page(rows: Sequence[Sequence[Any]], limit: int) -> LogPage:
    """Decode up to `limit` rows; the cursor is the smallest id on the page when more rows exist."""
    page = [decode_log_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    return LogPage(rows=page, next_cursor=page[-1][0] if more and page else None)


def decode_log_row(row: Sequence[Any]) -> tuple[int, LogRow]:
    values = dict(zip(LOG_COLUMNS, row[1:], strict=True))
    values["stream"] = bool(values["stream"])
    values["usage_estimated"] = bool(values["usage_estimated"])
    values["outcome"] = Outcome(values["outcome"])
    return int(row[0]), LogRow(**values)


def decode_balances(rows: Iterable[Sequence[Any]]) -> dict[str, TokenBalance]:
    return {row[0]: decode_balance(row) for row in rows}


def decode_balance(row: Sequence[Any]) -> TokenBalance:
    return TokenBalance(token=row[0], used=int(row[1]), held=int(row[2]), requests=int(row[3]))
