"""The operator API after a mixed run: admin key required, /api/stats ranges, splits and filters, /api/logs
filters, cursor pages and CSV export, /api/config without a secret."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import secrets_of
from gateway.web.logs_csv import HEADER
from tests.harness import ADMIN_KEY, CALLER_KEY, make_config, running_gateway, token
from tests.ops.process import chat
from tests.records.world import CAROL, World

ADMIN_GETS = ["/api/stats", "/api/logs", "/api/tokens", "/api/channels", "/api/config"]


@pytest.mark.parametrize("path", ADMIN_GETS)
async def test_every_operator_read_needs_the_admin_key(world: World, path: str) -> None:
    for key, headers in ((None, {}), ("wrong-admin-key", {}), (CALLER_KEY, {}), (None, {"x-api-key": ADMIN_KEY}),
                         (ADMIN_KEY[:-1], {})):
        status, body = await world.get(path, key=key, headers=headers)
        assert status == 401, (key, headers)
        assert body["error"]["code"] == "invalid_api_key"
    status, _ = await world.get(path)
    assert status == 200


async def test_without_an_admin_key_configured_the_operator_api_is_off(tmp_path: Path) -> None:
    config = make_config(tmp_path, channels=[], tokens=[token()], server={})
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        for path in ADMIN_GETS:
            async with session.get(gw.url + path, headers={"Authorization": "Bearer anything"}) as resp:
                assert resp.status == 403, path
        async with session.post(gw.url + "/api/stats/rebuild") as resp:
            assert resp.status == 403


async def test_stats_ranges_splits_and_filters(world: World) -> None:
    status, recent = await world.get("/api/stats")  # the last 7 days: today's calls, not January's rows
    assert status == 200
    rows = await world.rows()
    today = [row for row in rows if not row.request_id.startswith("night-")]
    assert recent["total"]["requests"] == len(today) and len(recent["data"]) == 1
    assert recent["quota_per_usd"] == 500_000
    assert recent["total"]["usd"] == round(sum(row.quota for row in today) / 500_000, 6)
    day = recent["data"][0]["day"]
    assert (recent["since"], recent["until"]) == ((date.fromisoformat(day) - timedelta(days=6)).isoformat(), day)

    _, by_token = await world.get("/api/stats", since="2026-01-01", by="token")
    per_token: dict[str, int] = {}
    for record in by_token["data"]:
        per_token[record["token"]] = per_token.get(record["token"], 0) + record["quota"]
    assert per_token == {name: sum(r.quota for r in rows if r.token == name) for name in ("alice", "bob", "carol")}

    _, carol_january = await world.get("/api/stats", since="2026-01-14", until="2026-01-14", token="carol")
    assert [(r["day"], r["requests"], r["quota"], r["p50_ms"]) for r in carol_january["data"]] == [
        ("2026-01-14", 1, 30, 800)]
    _, claude = await world.get("/api/stats", since="2026-01-01", model="claude-haiku-4-5-20251001", by="channel")
    assert [(r["channel"], r["requests"], r["errors"]) for r in claude["data"]] == [("claude", 1, 0)]

    for params in ({"by": "colour"}, {"since": "yesterday"}, {"since": "2026-02-02", "until": "2026-02-01"}):
        status, body = await world.get("/api/stats", **params)
        assert status == 400 and body["error"]["type"] == "invalid_request_error", params


async def walk(world: World, **params: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, page = await world.get("/api/logs", limit=2, **params, **({"cursor": cursor} if cursor else {}))
        assert status == 200 and len(page["data"]) <= 2
        got += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return got


async def test_logs_filters_and_pages(world: World) -> None:
    rows = await world.rows()
    every = await walk(world)
    assert [r["request_id"] for r in every] == [row.request_id for row in rows]  # newest first, each once
    assert [r["id"] for r in every] == sorted((r["id"] for r in every), reverse=True)

    async def ids(**params: Any) -> set[str]:
        return {r["request_id"] for r in await walk(world, **params)}

    assert await ids(token="bob") == {r.request_id for r in rows if r.token == "bob"}
    assert await ids(channel="beta", outcome="ok") == {
        r.request_id for r in rows if r.channel == "beta" and r.outcome == "ok"}
    assert await ids(status=499) == {r.request_id for r in rows if r.status == 499} != set()
    assert await ids(model="dall-e-3") == {r.request_id for r in rows if r.model == "dall-e-3"}
    assert await ids(until="2026-01-15") == {"night-before"}  # an ISO date in the statistics' zone
    assert await ids(since="2026-01-15", until="2026-01-16") == {"night-after"}
    assert await ids(since="1h") == {r.request_id for r in rows if not r.request_id.startswith("night-")}
    for params in ({"since": "soon"}, {"cursor": "x"}, {"format": "xml"}):
        status, _body = await world.get("/api/logs", **params)
        assert status == 400, params


async def test_logs_export_as_csv(world: World) -> None:
    # A model name a spreadsheet would run as a formula, refused and logged for carol.
    assert (await chat(world.session, world.gw.url, key=CAROL, model="=HYPERLINK(\"x\")"))[0] == 403
    rows = await world.rows()
    status, text = await world.get("/api/logs", format="csv")
    assert status == 200
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == HEADER
    records = [dict(zip(HEADER, line, strict=True)) for line in table[1:]]
    assert [r["request_id"] for r in records] == [row.request_id for row in rows]
    _, page = await world.get("/api/logs", limit=1000)
    for record, shown in zip(records, page["data"], strict=True):
        assert int(record["id"]) == shown["id"] and int(record["quota"]) == shown["quota"]
        assert float(record["time"]) == shown["time"] and record["outcome"] == shown["outcome"]
        assert record["first_byte_ms"] == ("" if shown["first_byte_ms"] is None else str(shown["first_byte_ms"]))
        assert record["stream"] == str(int(shown["stream"]))
    assert records[0]["model"] == "'=HYPERLINK(\"x\")"  # shown as text, never run

    _, bob = await world.get("/api/logs", format="csv", token="bob", limit=1)
    assert len(list(csv.reader(io.StringIO(bob)))) == 2  # header and the newest of bob's rows
    _, none = await world.get("/api/logs", format="csv", token="nobody")
    assert list(csv.reader(io.StringIO(none))) == [list(HEADER)]


async def test_config_is_redacted(world: World) -> None:
    async with world.session.get(world.gw.url + "/api/config",
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
        assert resp.status == 200
        text = await resp.text()
    config = world.gw.runtime.config
    secrets = secrets_of(config)
    assert len(secrets) >= 7  # admin key, three upstream keys, three caller keys
    for secret in secrets:
        assert secret not in text
    body = json.loads(text)
    assert body["server"]["admin_key"] == "***" and body["server"]["timezone"] == "Asia/Shanghai"
    assert [c["keys"] for c in body["channels"]] == [["***"]] * 3
    assert {t["name"]: t["key"] for t in body["tokens"]} == {"alice": "***", "bob": "***", "carol": "***"}
