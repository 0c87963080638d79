"""Reload of a real gateway process: SIGHUP, POST /api/reload and the file watcher, with calls in flight."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp

from tests.fakes.openai import OpenAIFake
from tests.harness import ADMIN_KEY, channel
from tests.ops.process import (
    admin_get,
    assert_balanced,
    auth,
    chat,
    config_data,
    replace_config,
    running,
    stream,
    write_config,
)

NEW_KEY = "sk-test-newcomer-5d1e0b"


def upstream(fake: OpenAIFake, name: str = "main", models: list[str] | None = None, **extra: object
             ) -> dict[str, object]:
    return channel(name, "openai", fake.url, key=fake.keys[0], models=models or ["gpt-*"], **extra)


async def test_a_stream_in_flight_finishes_across_a_sighup_that_removes_its_channel(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = tmp_path / "ledger.db", tmp_path / "gateway.yaml"
    write_config(cfg, config_data(db, [upstream(fake_openai, "old")]))
    fake_openai.script.reply(text="one two three four five six", chunks=6, chunk_delay=0.15)
    async with running(cfg, "--no-watch") as gw, aiohttp.ClientSession() as session:
        async with stream(session, gw.url) as call:
            assert await call.next_event() is not None  # the call is on channel "old" now
            write_config(cfg, config_data(db, [upstream(fake_openai, "new", models=["gpt-4o"])]))
            gw.send(signal.SIGHUP)
            reloaded = await gw.wait_for("config_reloaded")
            assert not fake_openai.requests[0].completed  # the upstream was still streaming
            await call.read_to_end()
        assert call.done and call.text == "one two three four five six"
        assert reloaded["trigger"] == "sighup"
        assert reloaded["removed"] == {"channels": ["old"]} and reloaded["added"] == {"channels": ["new"]}
        # New calls see the new file: gpt-4o-mini was served only by the removed channel.
        status, body = await chat(session, gw.url, model="gpt-4o-mini")
        assert status == 404, body
        status, body = await chat(session, gw.url, model="gpt-4o")
        assert status == 200, body
        rows = (await admin_get(session, gw.url, "/api/logs"))["data"]
        by_model = {row["model"]: row for row in rows}
        assert (by_model["gpt-4o-mini"]["channel"], by_model["gpt-4o-mini"]["outcome"]) == ("old", "ok")
        assert by_model["gpt-4o-mini"]["quota"] > 0
        assert by_model["gpt-4o"]["channel"] == "new"
        gw.send(signal.SIGTERM)
        assert await gw.exit_code() == 0
    assert_balanced(db)


async def test_a_token_added_by_sighup_works_within_a_second_and_quota_edits_apply_at_once(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = tmp_path / "ledger.db", tmp_path / "gateway.yaml"
    # alice's grant covers a hold for 100 output tokens, not the default 4096 (at $2/M: ~4100 quota).
    alice = {"name": "alice", "key": "sk-test-alice-91b2c3", "quota": 2000}
    write_config(cfg, config_data(db, [upstream(fake_openai)], tokens=[alice]))
    async with running(cfg, "--no-watch") as gw, aiohttp.ClientSession() as session:
        status, _ = await chat(session, gw.url, key=NEW_KEY)
        assert status == 401
        status, _ = await chat(session, gw.url, key=alice["key"], model="gpt-4.1", max_tokens=100)
        assert status == 200
        status, body = await chat(session, gw.url, key=alice["key"], model="gpt-4.1")
        assert status == 429 and body["error"]["code"] == "insufficient_quota", body
        used = {t["name"]: t for t in (await admin_get(session, gw.url, "/api/tokens"))["data"]}["alice"]["used"]
        assert used > 0

        tokens = [{**alice, "quota": 1_000_000}, {"name": "newcomer", "key": NEW_KEY, "quota": "$1"}]
        write_config(cfg, config_data(db, [upstream(fake_openai)], tokens=tokens))
        sent = time.monotonic()
        gw.send(signal.SIGHUP)
        while True:
            status, _ = await chat(session, gw.url, key=NEW_KEY)
            if status == 200:
                break
            assert status == 401
            assert time.monotonic() - sent < 1.0, "the new token was not accepted within a second"
            await asyncio.sleep(0.02)
        status, _ = await chat(session, gw.url, key=alice["key"], model="gpt-4.1")
        assert status == 200  # the raised grant applies at once, against what alice already used
        tokens_now = {t["name"]: t for t in (await admin_get(session, gw.url, "/api/tokens"))["data"]}
        assert tokens_now["alice"]["grant"] == 1_000_000
        assert tokens_now["alice"]["used"] > used  # history kept across the reload
        gw.send(signal.SIGTERM)
        assert await gw.exit_code() == 0
    assert_balanced(db)


BROKEN = {
    "bad YAML": ("channels: [\n  - name: x\n", "YAML syntax: line 2"),
    "unknown key": ("unknown", "channels[0].colour: unknown key"),
    "bad reference": ("reference", "tokens[0].group: unknown group 'nobody'"),
}


async def test_an_invalid_file_is_refused_with_its_yaml_path_and_the_old_config_keeps_serving(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = tmp_path / "ledger.db", tmp_path / "gateway.yaml"
    good = config_data(db, [upstream(fake_openai)])
    write_config(cfg, good)
    async with running(cfg, "--no-watch") as gw, aiohttp.ClientSession() as session:
        for attempt, (case, (content, problem)) in enumerate(BROKEN.items(), start=1):
            if content == "unknown":
                content = config_data(db, [upstream(fake_openai, colour="blue")])
            elif content == "reference":
                content = config_data(db, [upstream(fake_openai)], tokens=[
                    {"name": "alice", "key": "sk-test-alice-91b2c3", "quota": 5, "group": "nobody"}])
            write_config(cfg, content)
            async with session.post(gw.url + "/api/reload", headers=auth(ADMIN_KEY)) as resp:
                assert resp.status == 422, case
                result = await resp.json()
            assert result["ok"] is False
            assert any(p.startswith(problem) for p in result["problems"]), (case, result)
            failed = await gw.wait_for("config_reload_failed", count=attempt)
            assert failed["problems"] == result["problems"]
            status, body = await chat(session, gw.url)  # the old configuration still serves
            assert status == 200, (case, body)
        async with session.post(gw.url + "/api/reload") as resp:
            assert resp.status == 401  # the admin key is required
        write_config(cfg, {**good, "routing": {"retries": 1}})
        async with session.post(gw.url + "/api/reload", headers=auth(ADMIN_KEY)) as resp:
            assert resp.status == 200
            result = await resp.json()
        assert result["ok"] is True and result["changes"]["settings"] == ["routing.retries: 2 -> 1"]


async def test_a_file_saved_by_write_then_rename_is_picked_up_by_the_watcher(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = tmp_path / "ledger.db", tmp_path / "gateway.yaml"
    write_config(cfg, config_data(db, [upstream(fake_openai)]))
    async with running(cfg, "--watch-interval", "0.2") as gw, aiohttp.ClientSession() as session:
        tokens = [{"name": "alice", "key": "sk-test-alice-91b2c3", "quota": "$1"},
                  {"name": "newcomer", "key": NEW_KEY, "quota": "$1"}]
        replace_config(cfg, config_data(db, [upstream(fake_openai)], tokens=tokens))
        reloaded = await gw.wait_for("config_reloaded", within=5)
        assert reloaded["trigger"] == "file" and reloaded["added"] == {"tokens": ["newcomer"]}
        status, _ = await chat(session, gw.url, key=NEW_KEY)
        assert status == 200
        # A broken save is refused once (not retried every poll); fixing it is picked up again.
        replace_config(cfg, "tokens: [")
        await gw.wait_for("config_reload_failed", within=5)
        write_config(cfg, config_data(db, [upstream(fake_openai)], tokens=tokens[1:]))
        reloaded = await gw.wait_for("config_reloaded", count=2, within=5)
        assert reloaded["removed"] == {"tokens": ["alice"]}
        assert len(gw.named("config_reload_failed")) == 1
        status, _ = await chat(session, gw.url, key="sk-test-alice-91b2c3")
        assert status == 401


async def test_settings_that_need_a_restart_are_reported_and_keep_their_running_values(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = tmp_path / "ledger.db", tmp_path / "gateway.yaml"
    data = config_data(db, [upstream(fake_openai)])
    write_config(cfg, data)
    async with running(cfg, "--no-watch") as gw, aiohttp.ClientSession() as session:
        write_config(cfg, {**data, "server": {**data["server"], "port": 1},
                           "database": {"path": str(tmp_path / "other.db")}})
        async with session.post(gw.url + "/api/reload", headers=auth(ADMIN_KEY)) as resp:
            result = await resp.json()
        assert result["ok"] is True
        names = sorted(item.split(":")[0] for item in result["changes"]["restart_required"])
        assert names == ["database.path", "server.port"]
        assert "server.port" in result["note"] and "database.path" in result["note"]
        assert (await gw.wait_for("config_needs_restart"))["settings"] == result["changes"]["restart_required"]
        status, _ = await chat(session, gw.url)
        assert status == 200
    assert not (tmp_path / "other.db").exists()
    assert len(assert_balanced(db)["rows"]) == 1
