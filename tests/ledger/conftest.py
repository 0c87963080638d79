"""Fixtures for ledger tests: an opened SqliteLedger on a temporary file, and raw-SQL invariant checks."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger.sqlite import SqliteLedger


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.db")


@pytest.fixture
async def ledger(db_path: str) -> AsyncIterator[SqliteLedger]:
    opened = SqliteLedger(db_path, busy_timeout_ms=200)
    await opened.open()
    yield opened
    await opened.close()


def invariant_violations(path: str) -> list[str]:
    """Every way the stored numbers disagree with each other, read straight from the file."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            """
            SELECT u.token, u.used, u.held, u.requests,
                   (SELECT coalesce(sum(quota), 0) FROM logs l WHERE l.token = u.token),
                   (SELECT coalesce(sum(amount), 0) FROM holds h WHERE h.token = u.token
                                                              AND h.state = 'open'),
                   (SELECT count(*) FROM logs l WHERE l.token = u.token)
            FROM token_usage u
            """
        ).fetchall()
        orphans = db.execute(
            "SELECT count(*) FROM logs WHERE token NOT IN (SELECT token FROM token_usage)").fetchone()[0]
    problems = [f"{orphans} log rows without a token_usage row"] if orphans else []
    for token, used, held, requests, logged_quota, open_amount, log_rows in rows:
        if used != logged_quota:
            problems.append(f"{token}: used {used} != sum(logs.quota) {logged_quota}")
        if held != open_amount:
            problems.append(f"{token}: held {held} != sum(open holds) {open_amount}")
        if requests != log_rows:
            problems.append(f"{token}: requests {requests} != log rows {log_rows}")
    return problems


def query(path: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql, params).fetchall()
