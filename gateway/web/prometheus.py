"""`GET /metrics` in Prometheus text format.

Who may scrape: everyone when `metrics.public` is true or no `server.admin_key` is set; otherwise only
a request with the admin key as a bearer token. Series labelled by token name (`metrics.token_labels`)
are "details" (SPEC §2): they are served only to a scrape that shows the admin key.
"""

from __future__ import annotations

from aiohttp import web

from gateway.config.models import GatewayConfig
from gateway.metrics import CONTENT_TYPE
from gateway.protocols.errors import GatewayError
from gateway.web.auth import constant_time_equal
from gateway.web.keys import RUNTIME


def _shows_admin_key(request: web.Request, config: GatewayConfig) -> bool:
    admin_key = config.server.admin_key
    if admin_key is None:
        return False
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header[:7].lower() == "bearer " else None
    return constant_time_equal(presented, admin_key.get_secret_value())


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    config = rt.config
    if not config.metrics.enabled:
        raise GatewayError("not_found", "Metrics are off (metrics.enabled: false).")
    admin = _shows_admin_key(request, config)
    if config.server.admin_key is not None and not config.metrics.public and not admin:
        raise GatewayError("invalid_api_key", "/metrics needs the admin key as a bearer token "
                                              "(or metrics.public: true).")
    try:
        balances = await rt.ledger.balances()
    except Exception:  # a scrape still answers; the ledger gauges keep their last values
        balances = None
    snapshot = rt.channels.snapshot(config.channels, rt.clock())
    rt.metrics.refresh(config, in_flight=rt.in_flight, channels=snapshot["channels"], balances=balances)
    return web.Response(body=rt.metrics.exposition(with_tokens=admin), headers={"Content-Type": CONTENT_TYPE})


def routes() -> list[web.RouteDef]:
    return [web.get("/metrics", metrics)]
