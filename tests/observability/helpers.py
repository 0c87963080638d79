"""Calls and scrapes for the observability tests: raw HTTP against a running test gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import ADMIN_KEY, CALLER_KEY, Gateway

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def chat(session: aiohttp.ClientSession, gw: Gateway, *, key: str = CALLER_KEY,
               model: str = "gpt-4o-mini", stream: bool = False, prefix: str = "/v1",
               **body: Any) -> tuple[int, dict[str, str], bytes]:
    """One OpenAI chat call; returns status, headers and the whole body."""
    payload = {"model": model, "messages": [{"role": "user", "content": "Say hello"}], "stream": stream,
               **body}
    async with session.post(gw.url + prefix + "/chat/completions", json=payload,
                            headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until `condition()` holds (polled every 10 ms); fails the test after `seconds`."""
    for _ in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def scrape_text(session: aiohttp.ClientSession, gw: Gateway, *, admin: bool = True
                      ) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"} if admin else {}
    async with session.get(gw.url + "/metrics", headers=headers) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def scrape(session: aiohttp.ClientSession, gw: Gateway, *, admin: bool = True) -> Samples:
    """Every sample of `/metrics`, parsed by prometheus-client's own text parser."""
    await gw.runtime.idle()  # counters move when calls settle, after their replies went out
    status, _, text = await scrape_text(session, gw, admin=admin)
    assert status == 200, text
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels; 0 when absent (a counter never touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of every sample `name` whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)
