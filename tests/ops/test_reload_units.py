"""Reload logic without a process: what a reload reports, what it carries over, and the watcher's debounce."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from gateway.config import parse_config
from gateway.reload import Reloader, config_changes, keep_running_settings
from gateway.watcher import ConfigWatcher
from tests.harness import channel, running_gateway, token
from tests.ops.process import config_data, replace_config, write_config


def config(db: Path, **changes: Any) -> Any:
    data = config_data(db, [channel("a", "openai", "http://127.0.0.1:9", key="upstream-a-secret-000001"),
                            channel("b", "openai", "http://127.0.0.1:9", key="upstream-b-secret-000001")])
    for section, value in changes.items():
        data[section] = value
    return data


def parsed(data: dict[str, Any]) -> Any:
    return parse_config(json.dumps(data), env={})


def test_changes_name_what_was_added_removed_and_changed_and_never_show_secrets(tmp_path: Path) -> None:
    old = config(tmp_path / "l.db")
    new = config(tmp_path / "l.db")
    new["channels"] = [{**old["channels"][1], "weight": 5},
                       channel("c", "anthropic", "http://127.0.0.1:9", key="upstream-c-secret-000001")]
    new["tokens"] = [*old["tokens"], token("bob", key="sk-test-bob-123456")]
    new["routing"] = {"retries": 0}
    new["server"] = {**old["server"], "admin_key": "a-brand-new-admin-key", "port": 9999}
    new["pricing"] = {**old["pricing"], "o3*": {"input": 2, "output": 8}}
    changes = config_changes(parsed(old), parsed(new))
    assert changes.added == {"channels": ["c"], "tokens": ["bob"], "pricing": ["o3*"]}
    assert changes.removed == {"channels": ["a"]}
    assert changes.changed == {"channels": ["b"]}
    assert changes.settings == ["server.admin_key: changed", "routing.retries: 2 -> 0"]
    assert changes.restart_required == ["server.port: 8080 -> 9999"]
    assert "a-brand-new-admin-key" not in json.dumps(changes.as_dict())
    assert config_changes(parsed(old), parsed(old)).empty


def test_settings_needing_a_restart_keep_their_running_values(tmp_path: Path) -> None:
    running = parsed(config(tmp_path / "l.db"))
    edited = config(tmp_path / "other.db")
    edited["server"] = {**edited["server"], "port": 1, "host": "0.0.0.0", "shutdown_grace_seconds": 3}
    kept = keep_running_settings(running, parsed(edited))
    assert (kept.server.port, kept.server.host, kept.database.path) == (8080, "127.0.0.1", str(tmp_path / "l.db"))
    assert kept.server.shutdown_grace_seconds == 3  # read at shutdown: applies at once
    assert kept.find_token(running.tokens[0].key_hash) is not None


async def test_reload_swaps_the_snapshot_keeps_state_of_remaining_channels_and_masks_new_secrets(
        tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    write_config(path, config(tmp_path / "l.db"))
    async with running_gateway(parsed(config(tmp_path / "l.db"))) as gw:
        rt = gw.runtime
        before = rt.config
        a, b = before.channel("a"), before.channel("b")
        assert a is not None and b is not None
        now = rt.clock()
        rt.channels.cool(a, "gpt-4o", now=now, seconds=600)
        rt.channels.cool(b, "gpt-4o", now=now, seconds=600)
        edited = config(tmp_path / "l.db")
        edited["channels"] = [edited["channels"][1],
                              channel("c", "openai", "http://127.0.0.1:9", key="upstream-c-secret-newkey1")]
        write_config(path, edited)
        result = await Reloader(rt, path).reload("test")
        assert result.ok and result.changes.removed == {"channels": ["a"]}
        assert rt.config is not before and before.channel("a") is a  # the old snapshot is untouched
        assert rt.channels.cooling_until(b, "gpt-4o", now) is not None  # b kept its cooldown
        assert rt.channels.cooling_until(a, "gpt-4o", now) is None  # a's state was dropped
        assert rt.redactor.scrub("key upstream-c-secret-newkey1 leaked") == "key *** leaked"
        assert rt.redactor.scrub("old upstream-a-secret-000001") == "old ***"  # calls in flight may log it

        write_config(path, "channels: [")
        failed = await Reloader(rt, path).reload("test")
        assert not failed.ok and failed.problems[0].startswith("YAML syntax")
        assert rt.config.channel("c") is not None  # unchanged


async def test_watcher_reads_a_file_once_it_stops_changing(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    write_config(path, config(tmp_path / "l.db"))
    async with running_gateway(parsed(config(tmp_path / "l.db"))) as gw:
        reloader = Reloader(gw.runtime, path)
        reloads: list[str] = []
        reloaded = asyncio.Event()
        original = reloader.reload

        async def counting(trigger: str) -> Any:
            reloads.append(trigger)
            reloaded.set()
            return await original(trigger)

        reloader.reload = counting  # type: ignore[method-assign]
        watcher = asyncio.ensure_future(ConfigWatcher(reloader, interval=0.05, settle=0.15).run())
        try:
            for retries in range(4):  # a save in several quick writes...
                replace_config(path, config(tmp_path / "l.db", routing={"retries": retries}))
                await asyncio.sleep(0.04)
            async with asyncio.timeout(3):
                await reloaded.wait()
            await asyncio.sleep(0.3)
            assert reloads == ["file"]  # ...is read once, complete
            assert gw.runtime.config.routing.retries == 3
            path.unlink()  # a file missing for a while is not a change to act on
            await asyncio.sleep(0.3)
            assert reloads == ["file"]
        finally:
            watcher.cancel()
