"""The only owner of outbound HTTP: one aiohttp ClientSession per proxy, per-phase timeouts, no redirects.

Timeouts per channel: `connect` (TCP, TLS and proxy handshake, or waiting for a pooled connection),
`first_byte` (from the request being written to the response headers), `idle` (between two body
chunks while the caller reads). There is no total deadline: a stream lives as long as it keeps talking.
Errors are typed and their text never holds a key, a URL or proxy credentials.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import aiohttp_socks
from multidict import CIMultiDictProxy
from yarl import URL

if TYPE_CHECKING:
    from types import TracebackType

    from gateway.config.models import Channel

Phase = Literal["connect", "first_byte", "idle"]


class UpstreamError(Exception):
    """Base of everything `Upstream` raises; str() is safe to log and to show."""

    def __init__(self, channel: str, message: str) -> None:
        super().__init__(message)
        self.channel = channel


class UpstreamTimeout(UpstreamError):
    def __init__(self, channel: str, phase: Phase, seconds: float) -> None:
        what = {"connect": "did not connect", "first_byte": "sent no response headers",
                "idle": "went silent mid-body"}[phase]
        super().__init__(channel, f"upstream of channel {channel!r} {what} within {seconds:g}s")
        self.phase: Phase = phase


class UpstreamConnectError(UpstreamError):
    """No usable HTTP answer: refused, reset, DNS, TLS, proxy failure, or a garbled response."""


class UpstreamBroken(UpstreamError):
    """The connection failed after the response headers arrived (reset, truncated or bad encoding)."""


class UpstreamRedirect(UpstreamError):
    """The upstream answered 3xx; redirects are never followed (keys would travel with them)."""

    def __init__(self, channel: str, status: int) -> None:
        super().__init__(channel, f"upstream of channel {channel!r} answered a redirect ({status}); "
                                  "check its base_url")
        self.status = status


class UpstreamTooLarge(UpstreamError):
    def __init__(self, channel: str, limit: int) -> None:
        super().__init__(channel, f"upstream reply of channel {channel!r} exceeds {limit} bytes")
        self.limit = limit


def _reason(exc: BaseException) -> str:
    # Class names and the standard text of an errno only: library messages can carry URLs.
    os_error = getattr(exc, "os_error", None) or (exc if isinstance(exc, OSError) else None)
    number = getattr(os_error, "errno", None)
    return f"{type(exc).__name__}: {os.strerror(number)}" if number else type(exc).__name__


@dataclass(slots=True)
class _Pool:
    session: aiohttp.ClientSession
    label: str  # scheme://host:port of the proxy, or "direct"; never credentials
    proxy: URL | None = None  # for http(s) proxies, passed per request without credentials
    proxy_headers: dict[str, str] | None = None
    in_flight: int = 0
    retired: bool = False


class UpstreamResponse:
    """Response headers have arrived; read the body with `iter_chunks()` or `read_all()`, and always
    `release()` (or use `async with`) — it frees the connection, for reuse when the body was read."""

    def __init__(self, owner: Upstream, pool: _Pool, resp: aiohttp.ClientResponse, channel: str,
                 idle: float, elapsed: float) -> None:
        self.status = resp.status
        self.headers: CIMultiDictProxy[str] = resp.headers
        self.elapsed = elapsed  # seconds from sending to the response headers
        self._owner, self._pool, self._resp = owner, pool, resp
        self._channel, self._idle = channel, idle
        self._released = False

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (decompressed); UpstreamTimeout('idle') after `idle` of silence.

        The silence is timed by aiohttp's own socket read timer (set to `idle` in Upstream.send), which
        restarts on every packet and stops while reading is paused for a slow caller: one timer per
        packet, in C under uvloop, instead of an asyncio.timeout context per wait."""
        content = self._resp.content
        while True:
            try:
                chunk = content.read_nowait()  # what already arrived needs no wait (the usual case)
                if not chunk and not content.is_eof():
                    chunk = await content.readany()
            except aiohttp.ServerTimeoutError:
                raise UpstreamTimeout(self._channel, "idle", self._idle) from None
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                raise UpstreamBroken(self._channel, f"upstream of channel {self._channel!r} broke off "
                                                    f"mid-body ({_reason(exc)})") from None
            if not chunk:
                return
            yield chunk

    async def read_all(self, limit: int) -> bytes:
        """The whole body, refused with UpstreamTooLarge beyond `limit` bytes (after decompression)."""
        body = bytearray()
        async for chunk in self.iter_chunks():
            body += chunk
            if len(body) > limit:
                raise UpstreamTooLarge(self._channel, limit)
        return bytes(body)

    def release(self) -> None:
        """Done with this response (idempotent, safe in `finally`); an unread body closes the
        connection, a fully read one goes back to the pool."""
        if self._released:
            return
        self._released = True
        self._resp.release()
        self._owner._finished(self._pool)

    close = release

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()


class Upstream:
    """Sessions are created on first use per distinct `proxy` (None = direct) and kept until `retain`
    no longer lists that proxy, or `close()`."""

    def __init__(self, *, limit: int = 1000, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._pools: dict[str | None, _Pool] = {}
        self._retired: list[_Pool] = []
        self._closing: set[asyncio.Task[None]] = set()  # retired sessions being closed

    async def send(self, channel: Channel, *, method: str, url: str, headers: dict[str, str],
                   body: bytes | None = None) -> UpstreamResponse:
        """Send one request on `channel`'s session; returns once the response headers are in.

        Raises UpstreamTimeout('connect'|'first_byte'), UpstreamConnectError, UpstreamRedirect.
        Any other status (4xx, 5xx) is returned for the caller to judge.
        """
        pool = self._pool(channel.proxy)
        limits = channel.timeouts
        timeout = aiohttp.ClientTimeout(total=None, connect=limits.connect, sock_connect=limits.connect,
                                        sock_read=limits.first_byte)
        extra: dict[str, Any] = {}
        if pool.proxy is not None:
            # aiohttp sends proxy_headers only on CONNECT (https upstreams); a plain-http upstream is
            # requested from the proxy directly, so its credentials ride on that request.
            extra = {"proxy": pool.proxy, "proxy_headers": pool.proxy_headers}
            if pool.proxy_headers and url.lower().startswith("http://"):
                headers = {**headers, **pool.proxy_headers}
        pool.in_flight += 1
        started = time.monotonic()
        try:
            # aiohttp's sock_read starts once the request is written; this outer bound also covers a
            # request body the upstream never reads.
            async with asyncio.timeout(limits.connect + limits.first_byte):
                resp = await pool.session.request(method, url, headers=headers, data=body,
                                                  allow_redirects=False, timeout=timeout, **extra)
        except BaseException as exc:
            self._finished(pool)
            error = _translate(exc, channel.name, limits.connect, limits.first_byte)
            if error is None:
                raise
            raise error from None
        if 300 <= resp.status < 400:
            resp.release()
            self._finished(pool)
            raise UpstreamRedirect(channel.name, resp.status)
        # aiohttp has one sock_read for headers and body alike: from here on it times the body's
        # silences with the channel's `idle` instead of `first_byte` (see iter_chunks). A body that is
        # already complete has nothing left to time: a timer started now would fire on the connection
        # resting in the pool and close it.
        connection = resp.connection
        if connection is not None and connection.protocol is not None:
            connection.protocol.read_timeout = None if resp.content.is_eof() else limits.idle
            connection.protocol.start_timeout()
        return UpstreamResponse(self, pool, resp, channel.name, limits.idle, time.monotonic() - started)

    def _pool(self, proxy: str | None) -> _Pool:
        pool = self._pools.get(proxy)
        if pool is None:
            pool = self._pools[proxy] = self._new_pool(proxy)
        return pool

    def _new_pool(self, proxy: str | None) -> _Pool:
        if proxy is None:
            return _Pool(self._session(self._tcp()), "direct")
        url = URL(proxy)
        label = f"{url.scheme}://{url.host}:{url.port}"
        if url.scheme in ("socks5", "socks5h"):
            connector = aiohttp_socks.ProxyConnector(
                proxy_type=aiohttp_socks.ProxyType.SOCKS5, host=url.host or "", port=url.port or 1080,
                username=url.user, password=url.password, rdns=url.scheme == "socks5h",
                limit=self._limit, limit_per_host=self._limit_per_host)
            return _Pool(self._session(connector), label)
        if url.scheme in ("http", "https"):
            headers = None
            if url.user is not None:
                headers = {"Proxy-Authorization": aiohttp.encode_basic_auth(url.user, url.password or "")}
            return _Pool(self._session(self._tcp()), label,
                         proxy=url.with_user(None).with_password(None), proxy_headers=headers)
        raise ValueError(f"unsupported proxy scheme {url.scheme!r}")

    def _tcp(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit_per_host)

    @staticmethod
    def _session(connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True,
            trust_env=False, timeout=aiohttp.ClientTimeout(total=None))

    def _finished(self, pool: _Pool) -> None:
        pool.in_flight -= 1
        if pool.retired and pool.in_flight == 0 and pool in self._retired:
            self._retired.remove(pool)
            closing = asyncio.get_running_loop().create_task(pool.session.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def retain(self, proxies: Iterable[str | None]) -> None:
        """After a reload: close the sessions of proxies no channel uses any more, each once its
        in-flight responses are released."""
        keep = set(proxies)
        for proxy in [p for p in self._pools if p not in keep]:
            pool = self._pools.pop(proxy)
            pool.retired = True
            if pool.in_flight == 0:
                await pool.session.close()
            else:
                self._retired.append(pool)

    async def close(self) -> None:
        """Close every session (application shutdown)."""
        pools = [*self._pools.values(), *self._retired]
        self._pools.clear()
        self._retired.clear()
        for pool in pools:
            pool.retired = True
            await pool.session.close()
        await asyncio.gather(*self._closing, return_exceptions=True)

    def stats(self) -> list[dict[str, Any]]:
        """Open sessions for operators: proxy (no credentials), in-flight responses, retired or not."""
        return [{"proxy": p.label, "in_flight": p.in_flight, "retired": p.retired}
                for p in [*self._pools.values(), *self._retired]]


def _translate(exc: BaseException, channel: str, connect: float, first_byte: float) -> UpstreamError | None:
    """aiohttp / aiohttp-socks failures as our typed errors; None for anything else (cancellation)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp_socks.ProxyTimeoutError):
        return UpstreamTimeout(channel, "connect", connect)
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(channel, "first_byte", first_byte)
    if isinstance(exc, aiohttp.ClientError | aiohttp_socks.ProxyError | aiohttp_socks.ProxyConnectionError
                  | OSError):
        return UpstreamConnectError(channel, f"cannot reach the upstream of channel {channel!r} "
                                             f"({_reason(exc)})")
    return None
