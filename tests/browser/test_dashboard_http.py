"""What the gateway answers for /dashboard and its files, over HTTP (no browser needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from gateway.web.dashboard import ASSETS
from tests.harness import ADMIN_KEY, CALLER_KEY, Gateway, channel, make_config, running_gateway


@pytest_asyncio.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    config = make_config(tmp_path, channels=[channel("oa", "openai", "http://127.0.0.1:9")])
    async with running_gateway(config) as gateway:
        yield gateway


async def get(gw: Gateway, path: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(gw.url + path, allow_redirects=False) as r:
        return r.status, dict(r.headers), await r.read()


def shipped() -> list[str]:
    return sorted(p.name for p in ASSETS.iterdir() if p.name != "index.html")


async def test_page_is_served_without_a_key_with_a_strict_policy(gw: Gateway) -> None:
    status, headers, body = await get(gw, "/dashboard")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    text = body.decode()
    assert "<script type=\"module\" src=\"dashboard/app.js\"></script>" in text
    assert "<script>" not in text and " style=" not in text and "on" + "click=" not in text
    assert ADMIN_KEY not in text and CALLER_KEY not in text


@pytest.mark.parametrize("name", shipped())
async def test_every_shipped_file_is_served_with_its_type_and_policy(gw: Gateway, name: str) -> None:
    status, headers, body = await get(gw, f"/dashboard/{name}")
    assert status == 200, name
    assert body == (ASSETS / name).read_bytes()
    kind = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
    assert headers["Content-Type"].startswith(kind)
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_the_page_loads_nothing_from_another_origin() -> None:
    for path in ASSETS.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), path.name
        assert "https://" not in text, path.name
        assert "innerHTML" not in text and "eval(" not in text, path.name


@pytest.mark.parametrize("path", ["/dashboard/missing.js", "/dashboard/..%2Fweb%2Fdashboard.py",
                                  "/dashboard/%2E%2E/app.py", "/dashboard/index.html.bak", "/dashboard/App.js"])
async def test_nothing_else_is_served(gw: Gateway, path: str) -> None:
    status, _, _ = await get(gw, path)
    assert status == 404


async def test_a_trailing_slash_leads_to_the_page(gw: Gateway) -> None:
    status, headers, _ = await get(gw, "/dashboard/")
    assert status == 301
    assert headers["Location"] == "../dashboard"
