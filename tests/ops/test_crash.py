"""kill -9 of a real gateway process at random points of its calls, over and over (SPEC §4 invariant 5)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Behaviour
from tests.harness import channel
from tests.ops.process import (
    GatewayProcess,
    assert_balanced,
    books,
    chat,
    config_data,
    start_gateway,
    stream,
    write_config,
)

ITERATIONS = 20


async def one_call(session: aiohttp.ClientSession, url: str, rng: random.Random) -> None:
    await asyncio.sleep(rng.uniform(0, 0.15))
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, AssertionError):
        if rng.random() < 0.6:
            async with stream(session, url) as call:
                await call.read_to_end()
        else:
            await chat(session, url)


@pytest.mark.timeout(100)  # ~15 s on an idle 2-core machine; the bound is for a busy one
async def test_kill_9_at_random_points_loses_no_settled_charge_and_leaves_no_hold(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    rng = random.Random(20261125)
    db, cfg = tmp_path / "ledger.db", tmp_path / "gateway.yaml"
    upstream = channel("main", "openai", fake_openai.url, key=fake_openai.keys[0], models=["gpt-*"])
    write_config(cfg, config_data(db, [upstream]))
    # Calls last ~0.1-0.2 s; kills land before, during and after them.
    fake_openai.script.default = Behaviour(text="one two three four five six", chunks=6, chunk_delay=0.02)
    gw: GatewayProcess = await start_gateway(cfg, "--no-watch")
    try:
        for _ in range(ITERATIONS):
            async with aiohttp.ClientSession() as session:
                calls = [asyncio.ensure_future(one_call(session, gw.url, rng)) for _ in range(4)]
                await asyncio.sleep(rng.uniform(0.0, 0.3))
                gw.proc.kill()
                await gw.stop()
                await asyncio.gather(*calls)
            # The next start releases whatever the killed process held, before it listens.
            gw = await start_gateway(cfg, "--no-watch")
            assert_balanced(db)
        gw.proc.terminate()
        assert await gw.exit_code() == 0
        after_loop = assert_balanced(db)
        # A second restart changes nothing.
        gw = await start_gateway(cfg, "--no-watch")
        gw.proc.terminate()
        assert await gw.exit_code() == 0
        assert books(db) == after_loop
    finally:
        await gw.stop()
    outcomes = [outcome for _, outcome, _, _ in after_loop["rows"]]
    # The kills did land mid-call and calls did complete between them; every abandoned row charges nothing.
    assert outcomes.count("abandoned") >= 3 and outcomes.count("ok") >= 5, outcomes
    assert all(quota == 0 for _, outcome, _, quota in after_loop["rows"] if outcome == "abandoned")
