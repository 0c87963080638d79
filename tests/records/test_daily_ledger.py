"""Daily statistics in the ledger: kept by the transaction that writes each row, equal to a recomputation
from the log rows, days in a non-UTC zone, rebuilt on demand, on a zone change and after migration."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.ledger import LedgerUnavailable, LogRow, Outcome, StatsQuery
from gateway.ledger.schema import MIGRATIONS
from gateway.ledger.sqlite import SqliteLedger, rebuild_stats_file
from tests.ledger.conftest import invariant_violations, query
from tests.records.oracle import expected, kept, stats_zone

# Local midnight starting each zone's second day, and a DST day in Los Angeles (clocks go forward on
# 2026-03-08, so that day is 23 hours long).
BOUNDARIES = {"Asia/Shanghai": datetime(2026, 3, 2, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp(),
              "America/Los_Angeles": datetime(2026, 3, 9, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp()}


def row(request_id: str, when: float, *, token: str = "alice", model: str = "m1", channel: str = "c1",
        **fields: object) -> LogRow:
    return LogRow(request_id=request_id, token=token, model=model, channel=channel, time=when,
                  **fields)  # type: ignore[arg-type]


async def mixed_rows(ledger: SqliteLedger, midnight: float) -> None:
    """Settled, released, refused and cancelled rows either side of local midnight, over two tokens,
    two models and two channels, plus writes that must leave the statistics alone."""
    before, after = midnight - 1, midnight
    calls = [
        ("ok1", before, "settle", dict(quota=120, prompt_tokens=100, completion_tokens=20, status=200,
                                       request_time_ms=450, first_byte_ms=90, cached_tokens=30)),
        ("ok2", after, "settle", dict(quota=80, prompt_tokens=60, completion_tokens=10, status=200,
                                      request_time_ms=2_400, first_byte_ms=300, reasoning_tokens=5)),
        ("ok3", after + 3600, "settle", dict(token="bob", model="m2", channel="c2", quota=7, status=200,
                                             request_time_ms=400_000, cache_write_tokens=11)),
        ("fail", before - 60, "release", dict(quota=999, status=502, outcome=Outcome.ERROR,
                                              request_time_ms=30, error="upstream 502")),
        ("gone", after + 10, "settle", dict(model="m2", quota=15, status=499, outcome=Outcome.CANCELLED,
                                            request_time_ms=9_000, first_byte_ms=700)),
        ("over", after + 20, "settle", dict(channel="c2", quota=40, status=200, request_time_ms=51)),
    ]
    for request_id, when, how, fields in calls:
        await ledger.hold(request_id, str(fields.get("token", "alice")), None, 1000)
        closed = row(request_id, when, **fields)
        assert await (ledger.settle(closed) if how == "settle" else ledger.release(closed))
    await ledger.log(row("refused", after + 5, token="bob", status=404, outcome=Outcome.ERROR))
    # Writes refused by the ledger add nothing: a settle without a hold, a second settle, a plain
    # row for a request that took a hold.
    assert not await ledger.settle(row("never-held", after, quota=5))
    assert not await ledger.settle(row("ok1", after, quota=5))
    with pytest.raises(ValueError):
        await ledger.log(row("ok2", after))


@pytest.mark.parametrize("zone", sorted(BOUNDARIES))
async def test_kept_statistics_equal_the_log_rows_and_a_rebuild(tmp_path: Path, zone: str) -> None:
    path = str(tmp_path / "ledger.db")
    ledger = SqliteLedger(path, timezone=zone)
    await ledger.open()
    await mixed_rows(ledger, BOUNDARIES[zone])
    maintained = kept(path)
    assert maintained == expected(path, zone)
    assert sum(entry["requests"] for entry in maintained.values()) == 7
    assert await ledger.rebuild_stats() == 7
    assert kept(path) == maintained
    first_day = datetime.fromtimestamp(BOUNDARIES[zone] - 1, ZoneInfo(zone)).date().isoformat()
    second_day = datetime.fromtimestamp(BOUNDARIES[zone], ZoneInfo(zone)).date().isoformat()
    assert first_day < second_day
    days = await ledger.daily_stats(StatsQuery())
    assert [(s.day, s.requests, s.quota, s.errors, s.cancelled) for s in days] == [
        (first_day, 2, 120, 1, 0), (second_day, 5, 80 + 7 + 15 + 40, 1, 1)]
    await ledger.close()
    assert invariant_violations(path) == []


async def test_reads_split_filter_and_give_percentiles(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    ledger = SqliteLedger(path, timezone="Asia/Shanghai")
    await ledger.open()
    midnight = BOUNDARIES["Asia/Shanghai"]
    await mixed_rows(ledger, midnight)
    second = "2026-03-02"
    by_model = await ledger.daily_stats(StatsQuery(since=second, by="model"))
    assert [(s.key, s.requests, s.quota) for s in by_model] == [("m1", 3, 120), ("m2", 2, 22)]
    [m1] = [s for s in by_model if s.key == "m1"]
    assert (m1.percentile(50), m1.percentile(95)) == (100, 2_400)  # 51 ms and 2,400 ms: their buckets' bounds
    by_channel = await ledger.daily_stats(StatsQuery(until="2026-03-01", by="channel"))
    assert [(s.day, s.key, s.requests) for s in by_channel] == [("2026-03-01", "c1", 2)]
    only_bob = await ledger.daily_stats(StatsQuery(token="bob", by="token"))
    assert [(s.key, s.requests, s.errors, s.cache_write_tokens) for s in only_bob] == [("bob", 2, 1, 11)]
    [slow] = await ledger.daily_stats(StatsQuery(token="bob"))
    assert slow.percentile(50) == 400_000 and slow.latency[-1] == 1  # past the last bound: the maximum
    assert await ledger.daily_stats(StatsQuery(since="2026-03-03")) == []
    with pytest.raises(ValueError):
        await ledger.daily_stats(StatsQuery(by="colour"))
    await ledger.close()
    reader = SqliteLedger(path, readonly=True)
    await reader.open()
    assert reader.stats_timezone == "Asia/Shanghai"
    assert [s.requests for s in await reader.daily_stats(StatsQuery())] == [2, 5]
    await reader.close()


async def test_an_abandoned_hold_counts_on_the_day_it_was_taken(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    midnight = BOUNDARIES["Asia/Shanghai"]
    first = SqliteLedger(path, timezone="Asia/Shanghai", clock=lambda: midnight - 2)
    await first.open()
    await first.hold("lost", "alice", None, 50, model="m9")
    await first.close()  # the process "dies" with the hold open
    second = SqliteLedger(path, timezone="Asia/Shanghai", clock=lambda: midnight + 7200)
    assert await second.open() == 1
    [stat] = await second.daily_stats(StatsQuery(by="model"))
    assert (stat.day, stat.key, stat.errors, stat.quota) == ("2026-03-01", "m9", 1, 0)
    assert kept(path) == expected(path, "Asia/Shanghai")
    await second.close()


async def test_a_new_zone_at_open_rebuilds_the_days(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    ledger = SqliteLedger(path, timezone="UTC")
    await ledger.open()
    await mixed_rows(ledger, BOUNDARIES["Asia/Shanghai"])  # 16:00 UTC: one UTC day, two Shanghai days
    assert {day for day, *_ in kept(path)} == {"2026-03-01"}
    await ledger.close()
    moved = SqliteLedger(path, timezone="Asia/Shanghai")
    await moved.open()
    assert moved.stats_timezone == stats_zone(path) == "Asia/Shanghai"
    assert kept(path) == expected(path, "Asia/Shanghai")
    assert {day for day, *_ in kept(path)} == {"2026-03-01", "2026-03-02"}
    await moved.close()


async def test_a_version_1_ledger_gets_its_statistics_from_its_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    with closing(sqlite3.connect(path)) as db:
        db.executescript(f"{MIGRATIONS[0]}\nPRAGMA user_version = 1;")
        db.execute("INSERT INTO token_usage (token, used, requests) VALUES ('alice', 30, 2)")
        db.executemany("INSERT INTO logs (request_id, token, model, time, outcome, quota, request_time_ms)"
                       " VALUES (?, 'alice', 'm1', ?, ?, ?, 250)",
                       [("a", 1_700_000_000.0, "ok", 30), ("b", 1_700_090_000.0, "error", 0)])
        db.commit()
    ledger = SqliteLedger(path, timezone="Europe/Berlin")
    await ledger.open()
    assert kept(path) == expected(path, "Europe/Berlin") and len(kept(path)) == 2
    await ledger.close()


async def test_rebuilding_the_file_beside_a_running_ledger(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    ledger = SqliteLedger(path, timezone="America/Los_Angeles")
    await ledger.open()
    await mixed_rows(ledger, BOUNDARIES["America/Los_Angeles"])
    good = kept(path)
    with closing(sqlite3.connect(path)) as db:  # drift the table away from the rows
        db.execute("UPDATE daily_stats SET quota = quota + 1, requests = 0")
        db.execute("DELETE FROM daily_stats WHERE token = 'bob'")
        db.commit()
    assert kept(path) != good
    assert await rebuild_stats_file(path) == ("America/Los_Angeles", 7)
    assert kept(path) == good
    await ledger.hold("late", "bob", None, 1)  # the running ledger keeps adding to the rebuilt table
    assert await ledger.settle(row("late", BOUNDARIES["America/Los_Angeles"], token="bob", quota=1))
    assert kept(path) == expected(path, "America/Los_Angeles")
    await ledger.close()


async def test_rebuild_of_a_file_the_gateway_never_upgraded_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    with closing(sqlite3.connect(path)) as db:
        db.executescript(f"{MIGRATIONS[0]}\nPRAGMA user_version = 1;")
    with pytest.raises(LedgerUnavailable, match="start the gateway once"):
        await rebuild_stats_file(path)
    assert query(path, "PRAGMA user_version") == [(1,)]


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        SqliteLedger("x.db", timezone="Mars/Olympus")


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/Los_Angeles", "America/Sao_Paulo", "Pacific/Apia"])
def test_the_rebuild_s_day_cache_agrees_with_day_of(zone: str) -> None:
    import random

    from gateway.ledger.daily import DayOf, day_of

    tz = ZoneInfo(zone)
    rng = random.Random(7)
    # Sao Paulo moved its clocks at midnight (2018-11-04 has no 00:00); Apia skipped 2011-12-30 entirely.
    edges = [datetime(2018, 11, 4, tzinfo=ZoneInfo("UTC")).timestamp() + 3 * 3600 + d for d in range(-5, 5)]
    edges += [datetime(2011, 12, 29, 10, tzinfo=ZoneInfo("UTC")).timestamp() + d for d in range(-5, 5)]
    moments = sorted(rng.uniform(1.2e9, 1.9e9) for _ in range(5000)) + edges
    moments += [rng.uniform(1.2e9, 1.9e9) for _ in range(2000)]
    cached = DayOf(tz)
    assert [cached(when) for when in moments] == [day_of(when, tz) for when in moments]


async def test_rows_logged_while_the_snapshot_is_taken_are_added_when_it_is_installed(tmp_path: Path) -> None:
    from gateway.ledger import daily

    path = str(tmp_path / "ledger.db")
    zone = "Asia/Shanghai"
    ledger = SqliteLedger(path, timezone=zone)
    await ledger.open()
    await mixed_rows(ledger, BOUNDARIES[zone])
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        taken = daily.snapshot(db, ZoneInfo(zone))
        for index in range(3):  # logged after the snapshot, before the swap
            await ledger.hold(f"later{index}", "carol", None, 10)
            assert await ledger.settle(row(f"later{index}", BOUNDARIES[zone] + index, token="carol", quota=3,
                                           request_time_ms=120 * index))
        db.execute("UPDATE daily_stats SET requests = 0")
        db.execute("BEGIN IMMEDIATE")
        assert daily.install(db, ZoneInfo(zone), taken) == 10
        db.execute("COMMIT")
    assert kept(path) == expected(path, zone)
    assert taken.upto == 7 and sum(r[4] for r in taken.rows) == 7
    await ledger.close()
    with pytest.raises(LedgerUnavailable):
        await ledger.rebuild_stats()
