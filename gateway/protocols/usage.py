"""Reading usage out of each protocol's usage objects into the gateway's `Usage` (SPEC §4 terms)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.protocols import Usage


def _int(obj: Mapping[str, Any] | None, key: str) -> int:
    if not isinstance(obj, Mapping):
        return 0
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def openai_usage(u: Mapping[str, Any]) -> Usage:
    """OpenAI chat/completions/embeddings `usage`: prompt_tokens include cached ones,
    completion_tokens include reasoning ones. Responses-API names (input/output_tokens) work too."""
    if "input_tokens" in u and "prompt_tokens" not in u:
        total_in = _int(u, "input_tokens")
        cached = _int(u.get("input_tokens_details"), "cached_tokens")
        completion = _int(u, "output_tokens")
        reasoning = _int(u.get("output_tokens_details"), "reasoning_tokens")
    else:
        total_in = _int(u, "prompt_tokens")
        cached = _int(u.get("prompt_tokens_details"), "cached_tokens")
        completion = _int(u, "completion_tokens")
        reasoning = _int(u.get("completion_tokens_details"), "reasoning_tokens")
    return Usage(prompt=total_in - cached, cached=cached, completion=completion,
                 reasoning=reasoning, reported=True)


def anthropic_usage(u: Mapping[str, Any]) -> Usage:
    """Anthropic `usage`: input_tokens already exclude cache reads and writes; thinking is inside
    output_tokens (Anthropic reports no separate reasoning count)."""
    return Usage(prompt=_int(u, "input_tokens"), cached=_int(u, "cache_read_input_tokens"),
                 cache_write=_int(u, "cache_creation_input_tokens"),
                 completion=_int(u, "output_tokens"), reported=True)


def gemini_usage(m: Mapping[str, Any]) -> Usage:
    """Gemini `usageMetadata`: promptTokenCount includes cached content (and tool-use prompt
    tokens are counted on top); candidatesTokenCount excludes thoughtsTokenCount."""
    cached = _int(m, "cachedContentTokenCount")
    prompt = _int(m, "promptTokenCount") + _int(m, "toolUsePromptTokenCount") - cached
    thoughts = _int(m, "thoughtsTokenCount")
    return Usage(prompt=prompt, cached=cached, completion=_int(m, "candidatesTokenCount") + thoughts,
                 reasoning=thoughts, reported=True)
