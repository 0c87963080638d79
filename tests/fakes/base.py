"""Shared server plumbing of the fake upstreams: recording, auth/404 hooks, and fault-injecting writers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import string
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tests.fakes.script import Behaviour, Script

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RecordedRequest:
    """One request as the fake received it, for tests to assert what the gateway sent."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any  # the parsed body, or None when it was empty or not JSON
    behaviour: Behaviour
    completed: bool = False  # the whole answer was written
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)  # the peer went away mid-answer

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True, slots=True)
class Frame:
    """One unit of a streamed body, `head + payload + tail`; faults corrupt or cut the payload."""

    payload: str
    head: str = "data: "
    tail: str = "\n\n"

    def encode(self) -> bytes:
        return (self.head + self.payload + self.tail).encode()

    def malformed(self) -> bytes:
        return (self.head + self.payload[: max(1, len(self.payload) // 2)] + self.tail).encode()

    def truncated(self) -> bytes:
        return (self.head + self.payload[: len(self.payload) // 2]).encode()


RECORD = web.RequestKey("fake_record", RecordedRequest)


def record_of(request: web.Request) -> RecordedRequest:
    return request[RECORD]


def behaviour_of(request: web.Request) -> Behaviour:
    return request[RECORD].behaviour


class FakeUpstream(ABC):
    """One fake provider: an aiohttp app, its script, the requests it got and the keys it accepts."""

    def __init__(self, *, keys: Iterable[str], seed: int | None = None) -> None:
        self.script = Script()
        self.requests: list[RecordedRequest] = []
        self.keys = list(keys)
        self.url = ""  # set by run_fake / the fixtures once listening
        self.rng = random.Random(seed)
        self._closing = asyncio.Event()
        self._arrivals = asyncio.Condition()
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self.app[FAKE] = self
        self.app.on_shutdown.append(self._on_shutdown)
        self.app.router.add_routes(self.routes())

    # ---- provider hooks
    @abstractmethod
    def routes(self) -> list[web.RouteDef]: ...

    @abstractmethod
    def authenticate(self, request: web.Request) -> web.Response | None:
        """None when the request carries a valid key, else the provider's auth error."""

    @abstractmethod
    def error(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> web.Response:
        """An error answer in the provider's shape (`kind` is its type/status name)."""

    @abstractmethod
    def not_found(self, request: web.Request) -> web.Response: ...

    def identity_headers(self) -> dict[str, str]:
        """Headers the real API adds to every answer (request ids, rate limits, CDN noise)."""
        return {}

    async def wait_for_requests(self, count: int) -> list[RecordedRequest]:
        """Wait until `count` requests in all have arrived (bound it with `asyncio.timeout`)."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: len(self.requests) >= count)
        return self.requests[:count]

    # ---- helpers for provider handlers
    def random_id(self, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    @staticmethod
    def now() -> int:
        return int(time.time())

    def scripted_error(self, request: web.Request) -> web.Response | None:
        """The behaviour's scripted error answer, or None when it scripts a success."""
        behaviour = behaviour_of(request)
        if behaviour.status == 200:
            return None
        if behaviour.error_body is not None:
            body = behaviour.error_body
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            return web.Response(status=behaviour.status, body=raw, content_type="application/json")
        message = behaviour.error_message or f"scripted failure {behaviour.status}"
        return self.error(behaviour.status, message, kind=behaviour.error_type, code=behaviour.error_code)

    async def stall(self, request: web.Request, seconds: float) -> None:
        """Sleep `seconds`, waking early when the peer leaves (recorded) or the server shuts down."""
        record = record_of(request)
        deadline = asyncio.get_running_loop().time() + seconds
        while not self._closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                record.disconnected.set()
                return
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=min(left, 0.02))

    def decorate(self, response: web.StreamResponse, behaviour: Behaviour) -> None:
        """Identity headers, scripted headers, cookie, Retry-After and gzip, before anything is sent."""
        for name, value in self.identity_headers().items():
            response.headers.setdefault(name, value)
        response.headers.update(behaviour.headers)
        if behaviour.set_cookie is not None:
            response.headers.add("Set-Cookie", behaviour.set_cookie)
        if behaviour.retry_after is not None and behaviour.status != 200:
            response.headers["Retry-After"] = behaviour.retry_after
        if behaviour.gzip:
            response.enable_compression(web.ContentCoding.gzip)

    async def send_body(
        self,
        request: web.Request,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        """A whole (non-stream) body, with the behaviour's faults applied to it as frame 0."""
        behaviour = behaviour_of(request)
        record = record_of(request)
        if behaviour.malformed_at == 0:
            body = body[: len(body) // 2]
        cut = behaviour.drop_after == 0 or behaviour.truncate_after == 0
        stall = behaviour.stall_after is not None and behaviour.stall_after[0] == 0
        if not (cut or stall):
            response = web.Response(status=status, body=body, headers=headers)
            response.content_type = content_type
            record.completed = True  # the middleware decorates it
            return response
        streamed = web.StreamResponse(status=status, headers=headers)
        streamed.content_type = content_type
        self.decorate(streamed, behaviour)
        if not behaviour.gzip:
            streamed.content_length = len(body)  # the promise the cut body will break
        await streamed.prepare(request)
        half = len(body) // 2
        await streamed.write(body[:half])
        if stall and behaviour.stall_after is not None:
            await self.stall(request, behaviour.stall_after[1])
        if cut:
            self._drop(request, behaviour.reset or behaviour.drop_after != 0)
            return streamed
        await streamed.write(body[half:])
        await streamed.write_eof()
        record.completed = True
        return streamed

    async def send_json(
        self,
        request: web.Request,
        payload: Any,
        *,
        indent: int | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        text = json.dumps(payload, indent=indent, ensure_ascii=False)
        return await self.send_body(request, text.encode(), content_type=content_type, headers=headers)

    async def send_stream(
        self,
        request: web.Request,
        frames: Sequence[Frame],
        *,
        content_type: str,
        error_frame: Frame | None,
        closing: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        """Write `frames` one by one, applying the behaviour's stream faults between them."""
        behaviour = behaviour_of(request)
        record = record_of(request)
        response = web.StreamResponse(status=200, headers=headers)
        response.headers["Content-Type"] = content_type
        self.decorate(response, behaviour)
        await response.prepare(request)
        try:
            for index in range(len(frames) + 1):
                if behaviour.stall_after is not None and behaviour.stall_after[0] == index:
                    await self.stall(request, behaviour.stall_after[1])
                if behaviour.drop_after == index:
                    self._drop(request, behaviour.reset)
                    return response
                if behaviour.truncate_after == index and index < len(frames):
                    await response.write(frames[index].truncated())
                    await response.write_eof()
                    return response
                if behaviour.error_event_after == index and error_frame is not None:
                    await response.write(error_frame.encode() + closing)
                    await response.write_eof()
                    record.completed = True
                    return response
                if index == len(frames):
                    break
                frame = frames[index]
                await response.write(frame.malformed() if behaviour.malformed_at == index else frame.encode())
                if behaviour.chunk_delay:
                    await self.stall(request, behaviour.chunk_delay)
            await response.write(closing)
            await response.write_eof()
            record.completed = True
        except ConnectionError:
            record.disconnected.set()
        return response

    @staticmethod
    def _drop(request: web.Request, reset: bool) -> None:
        transport = request.transport
        if transport is None:
            return
        if reset:
            transport.abort()
        else:
            transport.close()

    # ---- plumbing
    async def _on_shutdown(self, _app: web.Application) -> None:
        self._closing.set()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        behaviour = self.script.take()
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            json=parsed,
            behaviour=behaviour,
        )
        self.requests.append(record)
        request[RECORD] = record
        async with self._arrivals:
            self._arrivals.notify_all()
        try:
            if behaviour.stall_before_headers:
                await self.stall(request, behaviour.stall_before_headers)
            if behaviour.redirect_to is not None:
                redirect = web.Response(status=302, headers={"Location": behaviour.redirect_to})
                self.decorate(redirect, behaviour)
                return redirect
            answer: web.StreamResponse
            if request.match_info.http_exception is not None:
                answer = self.not_found(request)
            else:
                answer = self.authenticate(request) or await handler(request)
            if not answer.prepared:  # streamed answers were decorated before their headers went out
                self.decorate(answer, behaviour)
            return answer
        except asyncio.CancelledError:
            record.disconnected.set()
            raise


FAKE = web.AppKey("fake_upstream", FakeUpstream)


@contextlib.asynccontextmanager
async def run_fake(app: web.Application | FakeUpstream) -> AsyncIterator[str]:
    """Serve a fake on 127.0.0.1 at a free port; yields its base URL (no trailing slash)."""
    fake = app if isinstance(app, FakeUpstream) else app.get(FAKE)
    application = app.app if isinstance(app, FakeUpstream) else app
    runner = web.AppRunner(application, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    if fake is not None:
        fake.url = url
    try:
        yield url
    finally:
        await runner.cleanup()
