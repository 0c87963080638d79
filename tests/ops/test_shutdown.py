"""SIGTERM on a real gateway process with calls in flight: they finish, or are cut at the deadline and settled."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import aiohttp

from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Behaviour
from tests.harness import channel
from tests.ops.process import Stream, assert_balanced, chat, config_data, running, stream, write_config

TEXT = "alpha beta gamma delta epsilon zeta eta theta"


def setup(tmp_path: Path, fake: OpenAIFake, grace: float) -> tuple[Path, Path]:
    db, cfg = tmp_path / "ledger.db", tmp_path / "gateway.yaml"
    upstream = channel("main", "openai", fake.url, key=fake.keys[0], models=["gpt-*"])
    write_config(cfg, config_data(db, [upstream], shutdown_grace_seconds=grace))
    return db, cfg


async def read_rest(call: Stream) -> None:
    with contextlib.suppress(aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
        await call.read_to_end()


async def test_sigterm_lets_streams_in_flight_finish_refuses_new_connections_and_exits_0(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = setup(tmp_path, fake_openai, grace=10)
    fake_openai.script.default = Behaviour(text=TEXT, chunks=8, chunk_delay=0.1)
    async with running(cfg, "--no-watch") as gw, aiohttp.ClientSession() as session:
        async with contextlib.AsyncExitStack() as calls:
            streams = [await calls.enter_async_context(stream(session, gw.url)) for _ in range(3)]
            for call in streams:
                assert await call.next_event() is not None
            gw.send(signal.SIGTERM)
            draining = await gw.wait_for("draining")
            assert draining["calls_in_flight"] == 3
            async with aiohttp.ClientSession() as fresh:  # a new connection, not a pooled one
                try:
                    await chat(fresh, gw.url)
                except aiohttp.ClientConnectionError:
                    pass
                else:
                    raise AssertionError("a draining gateway accepted a new connection")
            await asyncio.gather(*(call.read_to_end() for call in streams))
        assert all(call.done and call.text == TEXT for call in streams)
        assert await gw.exit_code() == 0
        assert not gw.named("drain_deadline")
    found = assert_balanced(db)
    assert [(outcome, status) for _, outcome, status, _ in found["rows"]] == [("ok", 200)] * 3
    assert all(quota > 0 for *_, quota in found["rows"])


async def test_sigterm_cuts_calls_at_the_deadline_settles_what_was_produced_and_exits_0(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = setup(tmp_path, fake_openai, grace=0.5)
    fake_openai.script.default = Behaviour(text=TEXT * 5, chunks=40, chunk_delay=0.1)  # ~4 s each
    async with running(cfg, "--no-watch") as gw, aiohttp.ClientSession() as session:
        async with contextlib.AsyncExitStack() as calls:
            streams = [await calls.enter_async_context(stream(session, gw.url)) for _ in range(2)]
            for call in streams:
                assert await call.next_event() is not None
            # A third call still waiting for its upstream's headers has produced nothing.
            fake_openai.script.push(Behaviour(stall_before_headers=30))
            waiting = asyncio.ensure_future(chat(session, gw.url))
            await fake_openai.wait_for_requests(3)
            gw.send(signal.SIGTERM)
            await asyncio.gather(*(read_rest(call) for call in streams))
            with contextlib.suppress(aiohttp.ClientError):
                await waiting
        assert not any(call.done for call in streams)
        code = await gw.exit_code(within=10)
        assert code == 0
        deadline = await gw.wait_for("drain_deadline")
        assert deadline["cancelled_calls"] == 3
    found = assert_balanced(db)
    rows = sorted(found["rows"], key=lambda row: row[3])
    assert [(outcome, status) for _, outcome, status, _ in rows] == [("cancelled", 499)] * 3
    released, *settled = rows
    assert released[3] == 0  # nothing produced: the hold was released
    assert all(quota > 0 for *_, quota in settled)  # streams are billed for what they relayed


async def test_a_second_sigterm_ends_the_grace_period_at_once(tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db, cfg = setup(tmp_path, fake_openai, grace=60)
    fake_openai.script.default = Behaviour(text=TEXT * 5, chunks=40, chunk_delay=0.1)
    async with running(cfg, "--no-watch") as gw, aiohttp.ClientSession() as session:
        async with stream(session, gw.url) as call:
            assert await call.next_event() is not None
            gw.send(signal.SIGTERM)
            await gw.wait_for("draining")
            gw.send(signal.SIGTERM)
            await read_rest(call)
        assert not call.done
        assert await gw.exit_code(within=10) == 0
        assert (await gw.wait_for("drain_deadline"))["cancelled_calls"] == 1
    [(_, outcome, status, quota)] = assert_balanced(db)["rows"]
    assert (outcome, status) == ("cancelled", 499) and quota > 0
