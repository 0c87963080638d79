"""The models a token may call, as each protocol's model list shows them."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from gateway.config.models import GatewayConfig, Token

_WILDCARDS = ("*", "?", "[")
CREATED = 1_700_000_000  # models have no creation date here; a fixed one keeps answers stable


def model_names(config: GatewayConfig, token: Token) -> list[str]:
    """Literal model names served to `token`'s group: channel models, model_map keys the channel's
    patterns match, and priced names matched by a channel's glob. Globs themselves cannot be listed."""
    names: set[str] = set()
    patterns: list[str] = []
    for channel in config.channels:
        if not channel.enabled or token.group not in channel.groups:
            continue
        for pattern in channel.models:
            (patterns.append(pattern) if any(w in pattern for w in _WILDCARDS) else names.add(pattern))
        # A model_map key is callable only where the channel's own patterns match it (routing's rule).
        names.update(k for k in channel.model_map if not any(w in k for w in _WILDCARDS)
                     and any(fnmatchcase(k, p) for p in channel.models))
    for priced in config.pricing:
        if not any(w in priced for w in _WILDCARDS) and any(fnmatchcase(priced, p) for p in patterns):
            names.add(priced)
    if token.models is not None:
        names = {n for n in names if any(fnmatchcase(n, p) for p in token.models)}
    return sorted(names)


def openai_model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": "gateway"}


def anthropic_model(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": "2023-11-14T22:13:20Z"}


def gemini_model(name: str) -> dict[str, Any]:
    return {"name": f"models/{name}", "baseModelId": name, "version": "001", "displayName": name,
            "description": name, "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens", "embedContent",
                                           "batchEmbedContents"]}
