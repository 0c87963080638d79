"""Running the gateway as a process: sockets, signals, and an orderly stop."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from gateway.app import create_app
from gateway.config import load_config
from gateway.demo import create_demo_app
from gateway.web.keys import RUNTIME


async def serve(path: str, *, host: str | None = None, port: int | None = None,
                demo_port: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT, then stop accepting and let calls in flight finish."""
    config = load_config(path)
    app = create_app(config, configure_logging=True)
    runners: list[web.AppRunner] = []
    if demo_port:
        demo = web.AppRunner(create_demo_app(), access_log=None, handle_signals=False)
        await demo.setup()
        await web.TCPSite(demo, "127.0.0.1", demo_port).start()
        runners.append(demo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True,
                           shutdown_timeout=config.server.shutdown_grace_seconds)
    await runner.setup()
    runners.insert(0, runner)
    bind_host, bind_port = host or config.server.host, port or config.server.port
    await web.TCPSite(runner, bind_host, bind_port, backlog=1024).start()
    log = app[RUNTIME].log
    log.info("listening", url=f"http://{bind_host}:{bind_port}", demo_upstream=demo_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping", grace_seconds=config.server.shutdown_grace_seconds)
    for r in runners:
        await r.cleanup()
    return 0
