"""Usage written back into each protocol's shape (the readers live in gateway.protocols.usage)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.protocols import Usage
from gateway.protocols.usage import anthropic_usage
from gateway.translate.neutral import Json


def openai(u: Usage) -> Json:
    """prompt_tokens include cached and cache-write tokens; completion_tokens include reasoning."""
    prompt = u.prompt + u.cached + u.cache_write
    out: Json = {"prompt_tokens": prompt, "completion_tokens": u.completion,
                 "total_tokens": prompt + u.completion}
    if u.cached or u.cache_write:
        details: Json = {"cached_tokens": u.cached}
        if u.cache_write:
            details["cache_write_tokens"] = u.cache_write
        out["prompt_tokens_details"] = details
    if u.reasoning:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning}
    return out


def anthropic(u: Usage) -> Json:
    """input_tokens exclude cache reads and writes; output_tokens include thinking."""
    out: Json = {"input_tokens": u.prompt, "output_tokens": u.completion,
                 "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cached}
    if u.reasoning:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning}
    return out


def gemini(u: Usage) -> Json:
    """promptTokenCount includes cached tokens; candidatesTokenCount excludes thoughtsTokenCount."""
    prompt = u.prompt + u.cached + u.cache_write
    candidates = max(u.completion - u.reasoning, 0)
    out: Json = {"promptTokenCount": prompt, "candidatesTokenCount": candidates,
                 "totalTokenCount": prompt + u.completion}
    if u.cached:
        out["cachedContentTokenCount"] = u.cached
    if u.reasoning:
        out["thoughtsTokenCount"] = u.reasoning
    return out


def read_anthropic(u: Mapping[str, Any]) -> Usage:
    """Anthropic usage, with the thinking share from output_tokens_details when the API sends it."""
    usage = anthropic_usage(u)
    details = u.get("output_tokens_details")
    if isinstance(details, Mapping):
        thinking = details.get("thinking_tokens")
        if isinstance(thinking, int) and not isinstance(thinking, bool):
            usage.reasoning = thinking
    return usage
