"""After a mixed run through the gateway, the daily statistics equal a recomputation from the log rows,
a rebuild changes nothing, and /api/stats adds up to the log rows to the unit."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.fakes.anthropic import AnthropicFake
from tests.records.oracle import expected, kept, stats_zone
from tests.records.world import MIDNIGHT, ZONE, records_world


async def test_statistics_equal_the_log_rows_after_a_mixed_run(tmp_path: Path,
                                                               fake_anthropic: AnthropicFake) -> None:
    async with records_world(tmp_path, fake_anthropic) as w:
        rows = await w.rows()
        outcomes = Counter((row.token, row.channel, str(row.outcome)) for row in rows)
        assert outcomes == Counter({
            ("alice", "alpha", "ok"): 2, ("alice", "beta", "ok"): 1, ("bob", "claude", "ok"): 1,
            ("bob", "alpha", "error"): 1, ("carol", "", "error"): 1, ("alice", "beta", "error"): 1,
            ("alice", "alpha", "cancelled"): 1, ("carol", "beta", "ok"): 2})
        assert [row.attempts for row in rows if row.channel == "beta" and row.token == "alice"] == [2, 2]
        assert stats_zone(w.db) == ZONE
        maintained = kept(w.db)
        assert maintained == expected(w.db, ZONE)
        night = {day for day, token, *_ in maintained if token == "carol" and day < "2026-02"}
        assert night == {"2026-01-14", "2026-01-15"}  # one second either side of local midnight

        status, _rebuilt = await w.get("/api/stats/rebuild", key=None)
        assert status == 405  # a POST only
        async with w.session.post(w.gw.url + "/api/stats/rebuild",
                                  headers={"Authorization": "Bearer admin-test-key-4242"}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"rebuilt": True, "log_rows": len(rows), "timezone": ZONE}
        assert kept(w.db) == maintained

        status, body = await w.get("/api/stats", since="2026-01-01")
        assert status == 200 and body["timezone"] == ZONE and body["by"] is None
        total = body["total"]
        for name in ("quota", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens",
                     "request_time_ms"):
            assert total[name] == sum(getattr(row, name) for row in rows), name
        assert total["first_byte_ms"] == sum(row.first_byte_ms or 0 for row in rows)
        assert (total["requests"], total["errors"], total["cancelled"]) == (len(rows), 3, 1)
        assert total["quota"] == sum(b.used for b in (await w.gw.runtime.ledger.balances()).values())
        assert [record["day"] for record in body["data"]][:2] == ["2026-01-14", "2026-01-15"]

        status, by_channel = await w.get("/api/stats", since=str(MIDNIGHT + 1), by="channel")
        split = {(r["day"], r["channel"]): r for r in by_channel["data"]}
        assert ("2026-01-14", "beta") not in split  # since as unix seconds: the day holding that moment
        assert {channel for _, channel in split} == {"alpha", "beta", "claude", ""}
        assert sum(r["requests"] for r in split.values()) == len(rows) - 1
