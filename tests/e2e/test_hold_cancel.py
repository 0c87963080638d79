"""A caller cancelled right after its hold committed (before its task resumed) leaves no hold open."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from gateway.ledger.sqlite import SqliteLedger
from tests.fakes.openai import OpenAIFake
from tests.harness import CALLER_KEY, channel, make_config, running_gateway


class CancelAfterHold(SqliteLedger):
    """The real ledger, but the first hold's caller is cancelled the moment the hold has committed."""

    fired = False

    async def hold(self, *args: Any, **kwargs: Any) -> None:
        await super().hold(*args, **kwargs)
        if not self.fired:
            self.fired = True
            raise asyncio.CancelledError


async def test_hold_committed_then_cancelled_is_released(tmp_path: Path, fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])])
    ledger = CancelAfterHold(config.database.path)
    async with running_gateway(config, ledger=ledger) as gw, aiohttp.ClientSession() as http:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        try:
            async with http.post(gw.url + "/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {CALLER_KEY}"}) as resp:
                await resp.read()
        except aiohttp.ClientError:
            pass  # the cancelled handler may drop the connection
        await gw.runtime.idle()
        assert ledger.fired
        balance = await ledger.balance("alice")
        assert balance.held == 0
        assert fake_openai.requests == []
