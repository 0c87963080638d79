"""Builders for real config models, so routing is tested against what the loader produces."""

from __future__ import annotations

from typing import Any

from gateway.config.models import Channel, GatewayConfig


def make_channel(name: str, models: list[str], **fields: Any) -> Channel:
    data: dict[str, Any] = {"type": "openai", "base_url": "https://api.example.com", "keys": ["sk-a"]}
    data.update(fields)
    return Channel.model_validate({"name": name, "models": models, **data})


def make_config(*channels: Channel, cooldown: float = 30) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "channels": list(channels),
        "tokens": [],
        "groups": {"default": {}, "vip": {}},
        "routing": {"retries": 2, "cooldown_seconds": cooldown},
    })
