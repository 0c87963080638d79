"""Upstream against real local servers: timeouts, redirects, cookies, gzip, SOCKS5 and HTTP proxies."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config.models import Channel
from gateway.upstream import (
    Upstream,
    UpstreamConnectError,
    UpstreamRedirect,
    UpstreamTimeout,
    UpstreamTooLarge,
)

from .builders import make_channel
from .http_proxy import HttpProxy
from .socks5_server import Socks5Server

STOP = web.AppKey("stop", asyncio.Event)
HITS = web.AppKey("hits", dict)


def channel(proxy: str | None = None, *, connect: float = 1.0, first_byte: float = 0.3,
            idle: float = 0.3) -> Channel:
    return make_channel("up", ["*"], proxy=proxy,
                        timeouts={"connect": connect, "first_byte": first_byte, "idle": idle})


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"method": request.method, "path": request.path_qs,
                              "headers": dict(request.headers), "body": body.decode()})


async def stall_headers(request: web.Request) -> web.Response:
    await request.app[STOP].wait()
    return web.Response(text="late")


async def stall_body(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    await resp.write(b"first")
    await request.app[STOP].wait()
    return resp


async def slow_chunks(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    for i in range(4):
        await asyncio.sleep(0.35)
        await resp.write(f"{i};".encode())
    await resp.write_eof()
    return resp


async def peer(request: web.Request) -> web.Response:
    """The caller's port: the same port twice means one pooled connection served both requests."""
    return web.Response(text=str(request.transport.get_extra_info("peername")[1]) if request.transport else "")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/target")


async def target(request: web.Request) -> web.Response:
    request.app[HITS]["target"] = request.app[HITS].get("target", 0) + 1
    return web.Response(text="followed")


async def set_cookie(request: web.Request) -> web.Response:
    resp = web.Response(text="ok")
    resp.set_cookie("session", "tenant-a")
    return resp


async def gzipped(request: web.Request) -> web.Response:
    payload = json.dumps({"text": "hello " * 100}).encode()
    return web.Response(body=gzip.compress(payload), headers={"Content-Encoding": "gzip",
                                                              "Content-Type": "application/json"})


async def big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * 10_000)


@pytest.fixture
async def server(aiohttp_server: Any) -> AsyncIterator[TestServer]:
    app = web.Application()
    app[STOP] = asyncio.Event()
    app[HITS] = {}
    app.router.add_post("/echo", echo)
    app.router.add_get("/echo", echo)
    for path, handler in [("/stall-headers", stall_headers), ("/stall-body", stall_body),
                          ("/slow-chunks", slow_chunks), ("/redirect", redirect), ("/target", target),
                          ("/set-cookie", set_cookie), ("/gzip", gzipped), ("/big", big),
                          ("/peer", peer)]:
        app.router.add_get(path, handler)
    srv: TestServer = await aiohttp_server(app)
    yield srv
    app[STOP].set()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    owner = Upstream()
    yield owner
    await owner.close()


def url(server: TestServer, path: str, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.port}{path}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get_json(upstream: Upstream, ch: Channel, address: str, **kw: Any) -> tuple[int, Any]:
    async with await upstream.send(ch, method=kw.pop("method", "GET"), url=address,
                                   headers=kw.pop("headers", {}), **kw) as resp:
        return resp.status, json.loads(await resp.read_all(1_000_000))


async def test_request_goes_out_as_given(server: TestServer, upstream: Upstream) -> None:
    status, seen = await get_json(upstream, channel(), url(server, "/echo"), method="POST",
                                  headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
                                  body=b'{"a":1}')
    assert status == 200
    assert seen["body"] == '{"a":1}' and seen["headers"]["Authorization"] == "Bearer k"
    assert "Cookie" not in seen["headers"]


async def test_first_byte_timeout(server: TestServer, upstream: Upstream) -> None:
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as info:
        await upstream.send(channel(first_byte=0.3), method="GET", url=url(server, "/stall-headers"),
                            headers={})
    assert info.value.phase == "first_byte"
    assert 0.25 < time.monotonic() - started < 2.0
    assert str(info.value) == "upstream of channel 'up' sent no response headers within 0.3s"
    assert upstream.stats() == [{"proxy": "direct", "in_flight": 0, "retired": False}]


async def test_idle_timeout_mid_body(server: TestServer, upstream: Upstream) -> None:
    resp = await upstream.send(channel(idle=0.3), method="GET", url=url(server, "/stall-body"), headers={})
    chunks: list[bytes] = []
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout) as info:
            async for chunk in resp.iter_chunks():
                chunks.append(chunk)
    finally:
        resp.release()
    assert resp.status == 200 and chunks == [b"first"]
    assert info.value.phase == "idle" and 0.25 < time.monotonic() - started < 2.0


async def test_gaps_longer_than_first_byte_but_within_idle_are_fine(server: TestServer,
                                                                     upstream: Upstream) -> None:
    # 4 gaps of 0.35 s: longer than first_byte (0.2), shorter than idle (0.8), more than both in total.
    async with await upstream.send(channel(first_byte=0.2, idle=0.8), method="GET",
                                   url=url(server, "/slow-chunks"), headers={}) as resp:
        assert await resp.read_all(1000) == b"0;1;2;3;"


async def test_a_pooled_connection_outlives_the_idle_timer_of_its_last_body(server: TestServer,
                                                                           upstream: Upstream) -> None:
    # A body's silences are timed by aiohttp's socket timer; it must stop with the body, or it fires
    # later on the connection resting in the pool and closes it.
    async def port_of_next_call() -> bytes:
        async with await upstream.send(channel(idle=0.1), method="GET", url=url(server, "/peer"),
                                       headers={}) as resp:
            return await resp.read_all(100)

    first = await port_of_next_call()
    async with await upstream.send(channel(idle=0.5), method="GET", url=url(server, "/slow-chunks"),
                                   headers={}) as resp:  # a body that ends well after its headers
        assert await resp.read_all(1000) == b"0;1;2;3;"
    await asyncio.sleep(0.6)  # longer than either call's idle
    assert await port_of_next_call() == first


async def test_connect_error_to_a_closed_port(upstream: Upstream) -> None:
    port = closed_port()
    with pytest.raises(UpstreamConnectError) as info:
        await upstream.send(channel(), method="POST", url=f"http://127.0.0.1:{port}/v1/x?key=SECRET",
                            headers={}, body=b"{}")
    text = str(info.value)
    assert "SECRET" not in text and str(port) not in text and "http" not in text
    assert "up" in text


async def test_connect_timeout_on_a_hung_proxy(upstream: Upstream) -> None:
    async with Socks5Server(stall=True) as proxy:
        with pytest.raises(UpstreamTimeout) as info:
            await upstream.send(channel(proxy.url, connect=0.3), method="GET",
                                url="http://127.0.0.1:9/", headers={})
    assert info.value.phase == "connect"


async def test_redirect_is_not_followed(server: TestServer, upstream: Upstream) -> None:
    with pytest.raises(UpstreamRedirect) as info:
        await upstream.send(channel(), method="GET", url=url(server, "/redirect"),
                            headers={"x-api-key": "sk-secret"})
    assert info.value.status == 302
    assert server.app[HITS] == {}
    assert upstream.stats()[0]["in_flight"] == 0


async def test_cookies_are_not_stored(server: TestServer, upstream: Upstream) -> None:
    # By host name: aiohttp's default jar would ignore cookies from a bare IP address anyway.
    async with await upstream.send(channel(), method="GET", url=url(server, "/set-cookie", "localhost"),
                                   headers={}) as r:
        assert "session=tenant-a" in r.headers["Set-Cookie"]
    _, seen = await get_json(upstream, channel(), url(server, "/echo", "localhost"))
    assert "Cookie" not in seen["headers"]


async def test_gzip_is_decoded(server: TestServer, upstream: Upstream) -> None:
    status, body = await get_json(upstream, channel(), url(server, "/gzip"))
    assert status == 200 and body == {"text": "hello " * 100}


async def test_read_all_refuses_oversized_replies(server: TestServer, upstream: Upstream) -> None:
    async with await upstream.send(channel(), method="GET", url=url(server, "/big"), headers={}) as resp:
        with pytest.raises(UpstreamTooLarge):
            await resp.read_all(9_999)


@pytest.mark.parametrize(("scheme", "host", "atyp", "seen_host"), [
    ("socks5", "127.0.0.1", 1, "127.0.0.1"),
    ("socks5h", "localhost", 3, "localhost"),  # the proxy resolves the name
])
async def test_traffic_passes_through_a_socks5_proxy(server: TestServer, upstream: Upstream, scheme: str,
                                                     host: str, atyp: int, seen_host: str) -> None:
    async with Socks5Server() as proxy:
        ch = channel(f"{scheme}://127.0.0.1:{proxy.port}")
        status, seen = await get_json(upstream, ch, url(server, "/echo", host), method="POST",
                                      body=b'{"via":"socks"}')
        assert status == 200 and seen["body"] == '{"via":"socks"}'
        assert [(t.atyp, t.host, t.port) for t in proxy.tunnels] == [(atyp, seen_host, server.port)]
        assert proxy.tunnels[0].sent.startswith(b"POST /echo HTTP/1.1\r\n")
        assert [s["proxy"] for s in upstream.stats()] == [f"{scheme}://127.0.0.1:{proxy.port}"]


async def test_traffic_passes_through_an_http_proxy_with_credentials(server: TestServer,
                                                                     upstream: Upstream) -> None:
    async with HttpProxy() as proxy:
        ch = channel(f"http://alice:p%40ss@127.0.0.1:{proxy.port}")
        status, seen = await get_json(upstream, ch, url(server, "/echo"), method="POST", body=b"{}")
        assert status == 200
        assert [f.request_line for f in proxy.forwarded] == [f"POST {url(server, '/echo')} HTTP/1.1"]
        assert proxy.forwarded[0].proxy_authorization == "Basic " + base64.b64encode(b"alice:p@ss").decode()
        assert "Proxy-Authorization" not in seen["headers"]
        assert upstream.stats()[0]["proxy"] == f"http://127.0.0.1:{proxy.port}"  # no credentials


async def test_proxy_failure_never_shows_credentials(upstream: Upstream) -> None:
    port = closed_port()
    for scheme in ("http", "socks5"):
        with pytest.raises(UpstreamConnectError) as info:
            await upstream.send(channel(f"{scheme}://bob:hunter2@127.0.0.1:{port}"), method="GET",
                                url="http://127.0.0.1:9/", headers={})
        assert "hunter2" not in str(info.value) and "bob" not in str(info.value)


async def test_retired_session_closes_after_its_last_response(server: TestServer, upstream: Upstream) -> None:
    async with Socks5Server() as proxy:
        ch = channel(proxy.url)
        resp = await upstream.send(ch, method="GET", url=url(server, "/stall-body"), headers={})
        session = resp._pool.session  # peeking: the observable effect is a closed session
        await upstream.retain([None])  # the proxy is no longer configured
        assert upstream.stats() == [{"proxy": proxy.url, "in_flight": 1, "retired": True}]
        assert not session.closed
        assert [c async for c in _first(resp)] == [b"first"]  # still readable
        resp.release()
        resp.release()  # idempotent
        assert upstream.stats() == []
        for _ in range(50):
            if session.closed:
                break
            await asyncio.sleep(0.01)
        assert session.closed
        # Configured again later: a fresh session.
        status, _ = await get_json(upstream, ch, url(server, "/echo"))
        assert status == 200 and len(proxy.tunnels) == 2


async def _first(resp: Any) -> AsyncIterator[bytes]:
    async for chunk in resp.iter_chunks():
        yield chunk
        return


async def test_close_closes_every_session(server: TestServer) -> None:
    owner = Upstream()
    await get_json(owner, channel(), url(server, "/echo"))
    session = owner._pools[None].session
    await owner.close()
    assert session.closed and owner.stats() == []


async def test_a_cancelled_send_frees_its_slot(server: TestServer, upstream: Upstream) -> None:
    task = asyncio.create_task(upstream.send(channel(first_byte=5), method="GET",
                                             url=url(server, "/stall-headers"), headers={}))
    await asyncio.sleep(0.1)
    assert upstream.stats()[0]["in_flight"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert upstream.stats()[0]["in_flight"] == 0


async def test_close_is_a_synchronous_alias_of_release(server: TestServer, upstream: Upstream) -> None:
    resp = await upstream.send(channel(), method="GET", url=url(server, "/stall-body"), headers={})
    try:
        assert upstream.stats()[0]["in_flight"] == 1
    finally:
        resp.close()
    assert upstream.stats()[0]["in_flight"] == 0
