"""Wiring: the aiohttp application with its routes, middleware, and the lifecycles of ledger and upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from gateway import logs
from gateway.channel_state import ChannelState
from gateway.config.models import GatewayConfig
from gateway.ledger.base import Ledger
from gateway.ledger.sqlite import SqliteLedger
from gateway.runtime import Runtime
from gateway.upstream import Upstream
from gateway.web import admin, anthropic_door, channels_api, dashboard, gemini_door, models, openai_door, ops
from gateway.web.keys import RUNTIME
from gateway.web.middleware import add_request_id, gateway_middleware
from gateway.web.openapi import routes as openapi_routes
from gateway.web.prometheus import routes as metrics_routes
from gateway.web.self_service import routes as self_service_routes
from gateway.web.stats_api import routes as stats_routes


def secrets_of(config: GatewayConfig) -> list[str]:
    """Every secret the redactor must mask: caller keys, upstream keys, the admin key, proxy URLs."""
    found: list[str] = []
    if config.server.admin_key is not None:
        found.append(config.server.admin_key.get_secret_value())
    for channel in config.channels:
        found.extend(k.get_secret_value() for k in channel.keys)
        if channel.proxy:
            found.append(channel.proxy)
    for token in config.tokens:
        if token.key is not None:
            found.append(token.key.get_secret_value())
    for webhook in config.notify.webhooks:
        found.append(webhook.url.get_secret_value())
        if webhook.secret is not None:
            found.append(webhook.secret.get_secret_value())
    return found


def create_app(config: GatewayConfig, *, ledger: Ledger | None = None,
               ledger_factory: Callable[[GatewayConfig], Ledger] | None = None,
               configure_logging: bool = False, log_stream: Any = None) -> web.Application:
    """The gateway as an aiohttp application. The ledger opens (and recovers holds) on startup.

    `configure_logging` sets up the process-wide JSON logs (to `log_stream`, default stderr).
    """
    redactor = logs.Redactor(secrets_of(config))
    if configure_logging:
        logs.configure(redactor, stream=log_stream)
    the_ledger = ledger or (ledger_factory or _sqlite)(config)
    channels = ChannelState(key_set_aside_seconds=config.routing.key_set_aside_seconds,
                            max_cooldown_seconds=config.routing.max_cooldown_seconds)
    rt = Runtime(config=config, ledger=the_ledger, upstream=Upstream(), channels=channels,
                 redactor=redactor, log=logs.get_logger())
    app = web.Application(middlewares=[gateway_middleware], client_max_size=config.server.max_body_bytes,
                          handler_args={"max_field_size": 16384})
    app[RUNTIME] = rt
    app.on_response_prepare.append(add_request_id)
    app.cleanup_ctx.append(_lifecycle)
    app.add_routes(openai_door.routes())
    app.add_routes(anthropic_door.routes())
    app.add_routes(gemini_door.routes())
    app.add_routes(models.routes())
    app.add_routes(admin.routes())
    app.add_routes(channels_api.routes())
    app.add_routes(ops.routes())
    app.add_routes(stats_routes())
    app.add_routes(self_service_routes())
    app.add_routes(openapi_routes())
    app.add_routes(metrics_routes())
    app.add_routes(dashboard.routes())
    return app


def _sqlite(config: GatewayConfig) -> Ledger:
    return SqliteLedger(config.database.path, timezone=config.server.timezone,
                        synchronous=config.database.synchronous,
                        busy_timeout_ms=config.database.busy_timeout_ms)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    abandoned = await rt.ledger.open()
    if abandoned:
        rt.log.warning("holds_abandoned", count=abandoned)
    rt.log.info("started", channels=len(rt.config.channels), tokens=len(rt.config.tokens))
    await rt.notifier.start()
    yield
    await rt.notifier.stop()
    await rt.upstream.close()
    await rt.ledger.close()
    rt.log.info("stopped")
