"""A call runs on the configuration its key was checked against, even if a reload lands while its
body is still arriving (the reload here removes the token's group and its channel)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.ledger.base import LogQuery
from tests.fakes.openai import OpenAIFake
from tests.harness import CALLER_KEY, channel, make_config, running_gateway, token


async def test_reload_between_auth_and_routing_keeps_the_calls_snapshot(tmp_path: Path,
                                                                        fake_openai: OpenAIFake) -> None:
    old = make_config(tmp_path, channels=[channel("vip-only", "openai", fake_openai.url, key=fake_openai.keys[0],
                                                  groups=["vip"])],
                      tokens=[token("alice", group="vip")], groups={"vip": {"multiplier": 0.5}})
    new = make_config(tmp_path, channels=[channel("other", "openai", fake_openai.url, key=fake_openai.keys[0],
                                                  models=["nothing-*"])],
                      tokens=[token("alice")])
    async with running_gateway(old) as gw:
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
        host, port = gw.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + CALLER_KEY.encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
        await writer.drain()
        await asyncio.sleep(0.2)  # the door has authenticated and waits for the rest of the body
        gw.runtime.config = new
        writer.write(body[10:])
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert b" 200 " in status_line
        await gw.runtime.idle()
        [(_, row)] = (await gw.runtime.ledger.logs(LogQuery())).rows
        assert row.channel == "vip-only" and row.outcome == "ok"
