"""Running the gateway as a process: sockets, signals (HUP reloads, TERM/INT drain), the file watcher."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from aiohttp import web

from gateway.app import create_app
from gateway.config import load_config
from gateway.demo import create_demo_app
from gateway.ledger.base import LedgerUnavailable
from gateway.reload import Reloader
from gateway.runtime import Runtime
from gateway.watcher import ConfigWatcher
from gateway.web.keys import RUNTIME

# After the grace period: how long cancelled calls get to write their settlement, and how long
# aiohttp may then spend closing connections that carried other (non-call) requests.
CANCEL_SECONDS = 10.0
CLOSE_SECONDS = 2.0


async def serve(path: str, *, host: str | None = None, port: int | None = None,
                demo_port: int | None = None, watch_interval: float | None = 1.0) -> int:
    """Serve until SIGTERM/SIGINT, then drain (see `drain`) and return the exit code.

    SIGHUP re-reads `path`; so does a change of the file when `watch_interval` (seconds) is set.
    """
    config = load_config(path)
    app = create_app(config, configure_logging=True)
    rt = app[RUNTIME]
    rt.reloader = Reloader(rt, path)
    runners: list[web.AppRunner] = []
    try:
        if demo_port:
            demo = web.AppRunner(create_demo_app(), access_log=None, handle_signals=False)
            await demo.setup()
            runners.append(demo)
            await web.TCPSite(demo, "127.0.0.1", demo_port).start()
        # shutdown_timeout is what aiohttp waits for handlers left after our own drain (admin reads).
        runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True,
                               shutdown_timeout=CLOSE_SECONDS)
        await runner.setup()  # opens the ledger, releasing holds a killed process left open
        runners.insert(0, runner)
        bind_host = host or config.server.host
        bind_port = config.server.port if port is None else port
        await web.TCPSite(runner, bind_host, bind_port, backlog=1024).start()
    except (OSError, LedgerUnavailable) as exc:
        rt.log.error("start_failed", error=str(exc))
        for r in runners:
            await r.cleanup()
        return 1
    rt.log.info("listening", urls=[_url(address) for address in runner.addresses], demo_upstream=demo_port,
                config=path)
    code = await _run_until_stopped(rt, runner, watch_interval)
    for r in runners:
        await r.cleanup()  # the app's cleanup closes the ledger: queued writes land, WAL checkpointed
    return code


def _url(address: Any) -> str:
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _run_until_stopped(rt: Runtime, runner: web.AppRunner, watch_interval: float | None) -> int:
    loop = asyncio.get_running_loop()
    stop, hurry = asyncio.Event(), asyncio.Event()
    reloads: set[asyncio.Task[Any]] = set()

    def on_stop_signal(name: str) -> None:
        if stop.is_set():
            rt.log.warning("stop_hurried", signal=name, note="calls in flight are cancelled now")
            hurry.set()
        stop.set()
        rt.log.info("stop_requested", signal=name)

    def on_hangup() -> None:
        assert rt.reloader is not None
        task = loop.create_task(rt.reloader.reload("sighup"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, on_stop_signal, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_stop_signal, "SIGINT")
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    watcher: asyncio.Task[None] | None = None
    if watch_interval and rt.reloader is not None:
        watcher = loop.create_task(ConfigWatcher(rt.reloader, interval=watch_interval).run())
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        for task in list(reloads):
            with contextlib.suppress(Exception):
                await task
    await drain(rt, runner, grace=rt.config.server.shutdown_grace_seconds, hurry=hurry)
    loop.remove_signal_handler(signal.SIGTERM)
    loop.remove_signal_handler(signal.SIGINT)
    return 0


async def drain(rt: Runtime, runner: web.AppRunner, *, grace: float, hurry: asyncio.Event | None = None
                ) -> None:
    """Stop accepting, let calls in flight finish for up to `grace` seconds, then cancel the rest.

    A cancelled call settles for what it produced (a stream: its usage so far, else counted from the
    relayed text) or releases its hold, so no hold is left open. `hurry` ends the grace period early.
    """
    for site in list(runner.sites):
        await site.stop()  # the listening socket closes: new connections are refused
    if runner.server is not None:
        runner.server.pre_shutdown()  # idle keep-alive connections close; busy ones after their reply
    rt.log.info("draining", calls_in_flight=rt.in_flight, grace_seconds=grace)
    if rt.in_flight:
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(rt.idle())]
        if hurry is not None:
            waits.append(asyncio.ensure_future(hurry.wait()))
        _, pending = await asyncio.wait(waits, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()
    if rt.in_flight:
        cancelled = rt.cancel_calls()
        rt.log.warning("drain_deadline", cancelled_calls=cancelled, grace_seconds=grace)
        try:
            async with asyncio.timeout(CANCEL_SECONDS):
                await rt.idle()
        except TimeoutError:
            rt.log.error("drain_incomplete", calls_in_flight=rt.in_flight,
                         note="holds still open are released as abandoned at the next start")
    rt.log.info("drained")
