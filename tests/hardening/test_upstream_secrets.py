"""Sentinel keys through the fault paths (reliability §4.1, §5.2 #23): upstream errors that echo the
channel key whole or in part, redirects carrying it, broken and stalled streams, callers hanging up, a
locked ledger. Afterwards no caller, upstream or admin key may be found in a log line, a response (body
or header), the ledger file or the metrics. The clean paths are tests/e2e/test_secrets.py."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest
import structlog

from gateway.ledger.sqlite import SqliteLedger
from tests.fakes.base import run_fake
from tests.fakes.openai import OpenAIFake
from tests.hardening.world import PAIRS, PROTOCOLS, UPSTREAM_KEYS, Reply, world
from tests.harness import token

CALLER = "sk-SENTINELcaller5e7d1c93ab"
ADMIN = "admin-SENTINEL-88d1f0"
SECRETS = [CALLER, ADMIN, *UPSTREAM_KEYS.values()]


def fragments(secret: str) -> list[str]:
    """The secret and the parts of it an upstream error might quote (OpenAI shows 'sk-abc***wxyz')."""
    return [secret, secret[:14], secret[-10:]]


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    structlog.reset_defaults()


async def test_no_key_leaks_from_any_fault_path(tmp_path: Path, log_buffer: io.StringIO) -> None:
    seen: list[str] = []

    def keep(reply: Reply) -> None:
        seen.append(reply.body.decode(errors="replace"))
        seen.append(str(reply.headers))
        seen.extend(event.data for event in reply.events)

    collector = OpenAIFake(keys=["sk-collector"])  # a redirect target: must receive nothing
    async with run_fake(collector), world(
            tmp_path, timeouts={"first_byte": 0.3, "idle": 0.3}, tokens=[token("alice", key=CALLER)],
            server={"admin_key": ADMIN}, app_options={"configure_logging": True, "log_stream": log_buffer},
            ledger_factory=lambda c: SqliteLedger(c.database.path, busy_timeout_ms=200)) as w:
        prompt = f"repeat after me: {' '.join(SECRETS)}"
        for door, channel_type in PAIRS:
            key = UPSTREAM_KEYS[channel_type]
            # OpenAI quotes a masked key (sk-proj-****abcd); anyone may quote it whole or in a URL.
            masked = f"{key[:8]}***{key[-4:]}" if key.startswith("sk-") else key
            echo = f"Incorrect API key provided: {masked} (full: {key}) see https://x.test/?key={key}"
            fake = w.fake(channel_type)
            fake.script.fail(400, error_message=echo)
            fake.script.fail(500, error_message=echo)
            fake.script.fail(429, error_message=echo, retry_after="0")
            fake.script.reply(redirect_to=f"{collector.url}/v1/chat/completions?key={key}")
            fake.script.reply(drop_after=4, reset=True)
            fake.script.reply(stall_after=(3, 5.0))
            fake.script.reply(stall_before_headers=5.0)
            fake.script.reply(malformed_at=2)
            for index in range(8):
                keep(await w.call(door, channel_type, stream=index % 2 == 1, prompt=prompt, key=CALLER))
            assert fake.script.pending == 0
        for door, channel_type in PAIRS[:3]:  # the channel's key refused, echoed back: set aside
            key = UPSTREAM_KEYS[channel_type]
            w.fake(channel_type).script.fail(401, error_message=f"Invalid key {key}")
            keep(await w.call(door, channel_type, stream=False, prompt=prompt, key=CALLER))
        for protocol in PROTOCOLS:  # callers that hang up mid-stream
            w.fake(protocol).script.reply(chunks=30, chunk_delay=0.05)
        async with aiohttp.ClientSession() as http:
            for protocol in PROTOCOLS:
                path, headers, body = _hang_up_request(protocol)
                async with http.post(w.url + path, json=body, headers=headers) as resp:
                    await resp.content.readany()
                    resp.close()
            with closing(sqlite3.connect(w.gw.runtime.config.database.path, isolation_level=None)) as other:
                other.execute("BEGIN IMMEDIATE")  # a locked ledger: 503 after busy_timeout
                locked = await w.call(PROTOCOLS[1], PROTOCOLS[2], stream=True, prompt=prompt, key=CALLER)
                assert locked.status == 503
                keep(locked)
                other.execute("ROLLBACK")
            for path in ("/api/logs?limit=1000", "/api/tokens", "/api/channels", "/metrics"):
                async with http.get(w.url + path, headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                    assert resp.status == 200, path
                    seen.append(await resp.text())
                    seen.append(str(dict(resp.headers)))
        await asyncio.sleep(0.2)
        rows = await w.check_books()
        assert len(rows) == 8 * len(PAIRS) + 3 + 3
    assert collector.requests == []
    logs = log_buffer.getvalue()
    assert "upstream_failed" in logs and "access" in logs  # the log captured the faults,
    assert "Incorrect API key provided" in logs  # the echoing error texts among them (scrubbed)
    assert any("Incorrect API key provided" in text for text in seen)  # and the 400s passed on
    ledger = b"".join(p.read_bytes() for p in tmp_path.glob("gateway.db*"))
    assert b"alice" in ledger
    for secret in SECRETS:
        for fragment in fragments(secret):
            assert fragment not in logs, f"{fragment} in the logs"
            assert fragment.encode() not in ledger, f"{fragment} in the ledger"
            for text in seen:
                assert fragment not in text, f"{fragment} in a response: {text[:300]}"


def _hang_up_request(protocol: object) -> tuple[str, dict[str, str], dict[str, object]]:
    from tests.hardening.world import MODELS, request_for

    return request_for(protocol, MODELS[protocol], stream=True, key=CALLER)  # type: ignore[arg-type,index]
