"""Sentinel keys through every path: neither the caller's nor the upstream's key may show up in a log
line, a response (body or header) or the SQLite ledger."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import pytest
import structlog

from tests.fakes.base import run_fake
from tests.fakes.openai import OpenAIFake
from tests.harness import channel, make_config, running_gateway, token

CALLER = "sk-SENTINELcaller7c41d2e9aa"
UPSTREAM = "sk-SENTINELupstream93b0f1"
ADMIN = "admin-SENTINEL-5d1e"


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    structlog.reset_defaults()


async def test_no_key_leaks_anywhere(tmp_path: Path, log_buffer: io.StringIO) -> None:
    fake = OpenAIFake(keys=[UPSTREAM])
    seen: list[str] = []
    async with run_fake(fake):
        config = make_config(
            tmp_path,
            channels=[channel("good", "openai", fake.url, key=UPSTREAM, models=["gpt-4o-mini"]),
                      channel("revoked", "openai", fake.url, key=UPSTREAM + "-old", models=["gpt-4o"])],
            tokens=[token("alice", key=CALLER, channel_select=True)],
            server={"admin_key": ADMIN})
        async with running_gateway(config, configure_logging=True, log_stream=log_buffer) as gw:
            url = gw.url
            sdk = openai.AsyncOpenAI(base_url=url + "/v1", api_key=CALLER, max_retries=0)
            msgs = [{"role": "user", "content": f"please repeat {CALLER} and {UPSTREAM}"}]
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs)
            stream = await sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True)
            async for _ in stream:
                pass
            # upstream rejects the channel's key: OpenAI echoes a masked key in its message
            with pytest.raises(openai.APIStatusError) as caught:
                await sdk.chat.completions.create(model="gpt-4o", messages=msgs)
            seen.append(caught.value.response.text)
            # upstream 400 whose message quotes the key and a ?key= URL
            fake.script.fail(400, error_message=f"bad request for {UPSTREAM} at https://x.test/v1?key={UPSTREAM}")
            with pytest.raises(openai.BadRequestError) as bad:
                await sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs)
            seen.append(bad.value.response.text)
            # a wrong caller key that differs from the real one by a suffix, and a channel suffix
            async with aiohttp.ClientSession() as http:
                for key in (CALLER + "x", CALLER + "#good", CALLER + "#nope"):
                    async with http.post(url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": msgs},
                                         headers={"Authorization": f"Bearer {key}"}) as resp:
                        seen.append(await resp.text())
                        seen.append(str(dict(resp.headers)))
                async with http.get(url + "/api/logs", headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                    seen.append(await resp.text())
                async with http.get(url + "/api/tokens", headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                    seen.append(await resp.text())
            await gw.runtime.idle()
    logs = log_buffer.getvalue()
    assert "access" in logs and "upstream_failed" in logs  # the log really captured the calls
    ledger_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("gateway.db*"))
    assert b"alice" in ledger_bytes  # the ledger really holds the rows
    for secret in (CALLER, UPSTREAM, UPSTREAM[:16], ADMIN):
        assert secret not in logs, f"{secret} in logs"
        assert secret.encode() not in ledger_bytes, f"{secret} in ledger"
        for text in seen:
            assert secret not in text, f"{secret} in a response"
