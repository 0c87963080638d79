"""The configuration as plain JSON-able data with every secret masked, for `GET /api/config`."""

from __future__ import annotations

from typing import Any

from gateway.config.fields import without_credentials
from gateway.config.models import GatewayConfig

REDACTED = "***"


def redacted(config: GatewayConfig) -> dict[str, Any]:
    """`config` as JSON-able data; admin key, upstream keys, header values (they often carry credentials),
    token keys and their hashes, and proxy credentials are replaced by `***`."""
    data = config.model_dump(mode="json")
    if config.server.admin_key is not None:
        data["server"]["admin_key"] = REDACTED
    for shown, channel in zip(data["channels"], config.channels, strict=True):
        shown["keys"] = [REDACTED for _ in channel.keys]
        shown["headers"] = dict.fromkeys(channel.headers, REDACTED)
        if channel.proxy is not None:
            shown["proxy"] = without_credentials(channel.proxy, REDACTED)
    for shown in data["tokens"]:
        for field in ("key", "key_sha256"):
            if shown[field] is not None:
                shown[field] = REDACTED
    return data
