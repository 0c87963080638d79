"""`gateway tokens|logs|stats` against a ledger written by real calls, while that gateway keeps running."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from gateway.cli import main
from gateway.config import load_config
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Tokens
from tests.harness import CALLER_KEY, Gateway, channel, running_gateway
from tests.ops.process import chat, config_data, stream, write_config

BOB, GHOST = "sk-test-bob-5e5e5e", "sk-test-ghost-7a7a7a"


@dataclass
class World:
    gw: Gateway
    cfg: Path  # the file the CLI reads: the gateway's tokens except ghost
    db: Path
    session: aiohttp.ClientSession


@pytest_asyncio.fixture
async def world(tmp_path: Path, fake_openai: OpenAIFake) -> AsyncIterator[World]:
    db = tmp_path / "ledger.db"
    upstream = channel("main", "openai", fake_openai.url, key=fake_openai.keys[0], models=["gpt-*"])
    tokens = [{"name": "alice", "key": CALLER_KEY, "quota": "$10"},
              {"name": "bob", "key": BOB, "unlimited": True, "models": ["gpt-4o-mini", "claude-*"]}]
    serving = tmp_path / "serving.yaml"
    write_config(serving, config_data(db, [upstream], tokens=[*tokens, {"name": "ghost", "key": GHOST,
                                                                        "quota": 100_000}]))
    cfg = tmp_path / "gateway.yaml"
    write_config(cfg, config_data(db, [upstream], tokens=tokens))
    fake_openai.script.reply(tokens=Tokens(input=1000, output=200))
    fake_openai.script.reply(tokens=Tokens(input=3000, output=100))
    async with running_gateway(load_config(serving)) as gw, aiohttp.ClientSession() as session:
        assert (await chat(session, gw.url))[0] == 200
        assert (await chat(session, gw.url, model="gpt-4o"))[0] == 200
        async with stream(session, gw.url, key=BOB) as call:
            await call.read_to_end()
        assert (await chat(session, gw.url, key=BOB, model="claude-3-haiku"))[0] == 404  # no channel
        assert (await chat(session, gw.url, key=GHOST))[0] == 200
        await gw.runtime.idle()
        yield World(gw, cfg, db, session)


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_tokens_table_and_json(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    balances = await world.gw.runtime.ledger.balances()
    code, out, _ = await run(capsys, "tokens", "-c", str(world.cfg))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TOKEN", "GROUP", "GRANT", "USED", "HELD", "REMAINING", "REQUESTS"]
    alice = lines[1].split()
    assert alice == ["alice", "default", "5,000,000", f"{balances['alice'].used:,}", "0",
                     f"{5_000_000 - balances['alice'].used:,}", "2"]
    assert lines[2].split() == ["bob", "default", "unlimited", f"{balances['bob'].used:,}", "0", "-", "2"]
    assert lines[3].split()[:2] == ["ghost", "(not"]  # used quota the file no longer grants

    code, out, _ = await run(capsys, "tokens", "-c", str(world.cfg), "--json")
    assert code == 0
    records = {r["name"]: r for r in json.loads(out)["data"]}
    assert records["alice"]["used"] == balances["alice"].used > 0
    assert records["alice"]["remaining"] == 5_000_000 - balances["alice"].used
    assert records["bob"]["unlimited"] is True and records["bob"]["remaining"] is None
    assert records["ghost"]["in_config"] is False and records["ghost"]["used"] == balances["ghost"].used


async def test_logs_table_json_and_filters(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await run(capsys, "logs", "-c", str(world.cfg))
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split()[:4] == ["ID", "TIME", "TOKEN", "MODEL"]
    assert len(lines) == 5
    assert [line.split()[0] for line in lines] == ["1", "2", "3", "4", "5"]  # oldest first
    refused = lines[3].split()
    assert refused[3:8] == ["bob", "claude-3-haiku", "-", "404", "error"]

    code, out, _ = await run(capsys, "logs", "-c", str(world.cfg), "--json", "--token", "bob")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["token"], r["model"], r["stream"], r["status"]) for r in rows] == [
        ("bob", "gpt-4o-mini", True, 200), ("bob", "claude-3-haiku", False, 404)]
    code, out, _ = await run(capsys, "logs", "-c", str(world.cfg), "--json", "--outcome", "ok", "-n", "2")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [3, 5]  # the two newest ok rows
    code, out, _ = await run(capsys, "logs", "-c", str(world.cfg), "--json", "--since", "1h", "--model",
                             "gpt-4o")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [2]
    code, out, _ = await run(capsys, "logs", "-c", str(world.cfg), "--json", "--until", "2001-01-01")
    assert (code, out) == (0, "")


async def test_stats_by_day_split_and_json(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    balances = await world.gw.runtime.ledger.balances()
    total_used = sum(b.used for b in balances.values())
    code, out, _ = await run(capsys, "stats", "-c", str(world.cfg), "--json", "--days", "1")
    assert code == 0
    report = json.loads(out)
    [today] = report["data"]
    assert (today["requests"], today["errors"], today["quota"]) == (5, 1, total_used)
    assert today["prompt_tokens"] >= 4000 and today["p50_ms"] is not None
    assert report["total"]["quota"] == total_used and report["timezone"] == "UTC"

    code, out, _ = await run(capsys, "stats", "-c", str(world.cfg), "--json", "--by", "model")
    by_model = {r["model"]: r for r in json.loads(out)["data"]}
    assert set(by_model) == {"gpt-4o-mini", "gpt-4o", "claude-3-haiku"}
    assert by_model["gpt-4o-mini"]["requests"] == 3 and by_model["gpt-4o-mini"]["errors"] == 0
    assert by_model["claude-3-haiku"]["errors"] == 1 and by_model["claude-3-haiku"]["quota"] == 0
    assert sum(r["quota"] for r in by_model.values()) == total_used

    code, out, _ = await run(capsys, "stats", "-c", str(world.cfg), "--by", "token")
    header, *lines, blank, note = out.splitlines()
    assert header.split()[:4] == ["DAY", "TOKEN", "REQUESTS", "ERRORS"] and "USD" in header
    assert sorted(line.split()[1] for line in lines[:-1]) == ["alice", "bob", "ghost"]
    assert lines[-1].split()[:2] == ["total", "5"] and blank == "" and "UTC" in note


async def test_read_commands_without_config_and_their_errors(world: World, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await run(capsys, "tokens", "-c", str(tmp_path / "missing.yaml"), "--db", str(world.db),
                             "--json")
    assert code == 0
    assert {r["name"] for r in json.loads(out)["data"]} == {"alice", "bob", "ghost"}
    code, _, err = await run(capsys, "tokens", "-c", str(world.cfg), "--db", str(tmp_path / "none.db"))
    assert code == 1 and "no ledger at" in err
    code, _, err = await run(capsys, "tokens", "-c", str(tmp_path / "missing.yaml"))
    assert code == 1 and "cannot read the configuration" in err
    code, _, err = await run(capsys, "logs", "-c", str(world.cfg), "--since", "yesterday-ish")
    assert code == 1 and "is not a time" in err


async def test_logs_follow_prints_new_rows_of_a_running_gateway(world: World) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "logs", "-c", str(world.cfg), "--json", "-n", "1", "--follow",
        "--interval", "0.1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        assert first["id"] == 5
        started = time.monotonic()
        assert (await chat(world.session, world.gw.url, model="gpt-4o"))[0] == 200
        row = json.loads(await asyncio.wait_for(proc.stdout.readline(), 5))
        assert (row["id"], row["model"], row["outcome"]) == (6, "gpt-4o", "ok")
        assert time.monotonic() - started < 3
    finally:
        proc.terminate()
        await proc.wait()
