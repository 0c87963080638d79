"""`gateway stats` reads the daily statistics the ledger keeps, and `gateway stats --rebuild` recomputes
them from the log rows while the gateway keeps running."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from gateway.cli import main
from tests.fakes.anthropic import AnthropicFake
from tests.ops.process import chat
from tests.records.oracle import expected, kept
from tests.records.world import ZONE, records_world


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what the gateway logged so far
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_stats_from_the_table_and_rebuild_beside_a_running_gateway(
        tmp_path: Path, fake_anthropic: AnthropicFake, capsys: pytest.CaptureFixture[str]) -> None:
    async with records_world(tmp_path, fake_anthropic) as w:
        rows = await w.rows()
        no_config = str(tmp_path / "absent.yaml")
        code, out, _ = await run(capsys, "stats", "-c", no_config, "--db", w.db, "--json", "--days", "400")
        assert code == 0
        report = json.loads(out)
        assert (report["timezone"], report["source"]) == (ZONE, "daily_stats")
        assert report["total"]["requests"] == len(rows)
        assert report["total"]["quota"] == sum(row.quota for row in rows)
        assert report["data"][0]["day"] == "2026-01-14"

        code, out, _ = await run(capsys, "stats", "-c", no_config, "--db", w.db, "--json", "--days", "400",
                                 "--tz", "UTC", "--by", "token")
        utc = json.loads(out)
        assert (utc["timezone"], utc["source"]) == ("UTC", "log_rows")
        assert utc["total"]["quota"] == report["total"]["quota"]
        assert {r["day"] for r in utc["data"] if r["token"] == "carol" and r["day"] < "2026-02"} == {"2026-01-14"}

        with closing(sqlite3.connect(w.db)) as db:  # the table drifts from the rows
            db.execute("DELETE FROM daily_stats WHERE token = 'alice'")
            db.commit()
        assert kept(w.db) != expected(w.db, ZONE)
        code, out, _ = await run(capsys, "stats", "-c", no_config, "--db", w.db, "--rebuild")
        assert code == 0 and f"from {len(rows)} log rows (days in {ZONE})" in out
        assert kept(w.db) == expected(w.db, ZONE)
        w.alpha.script.reply()
        assert (await chat(w.session, w.gw.url))[0] == 200  # the gateway writes on, into the rebuilt table
        await w.gw.runtime.idle()
        assert kept(w.db) == expected(w.db, ZONE)

        code, out, _ = await run(capsys, "stats", "-c", no_config, "--db", w.db, "--by", "channel")
        header, *lines, _blank, note = out.splitlines()
        assert header.split()[:3] == ["DAY", "CHANNEL", "REQUESTS"] and ZONE in note
        assert lines[-1].split()[:2] == ["total", str(len(rows) + 1 - 2)]  # today only: no January rows

    code, _, err = await run(capsys, "stats", "--db", str(tmp_path / "none.db"), "-c", no_config, "--rebuild")
    assert code == 1 and "no ledger" in err
