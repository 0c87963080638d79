"""The three wire protocols the gateway speaks, and the usage numbers every call is billed on."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Protocol(enum.StrEnum):
    """A wire protocol: what a door speaks to callers, or what a channel speaks upstream."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


@dataclass(slots=True)
class Usage:
    """Token counts of one call, in the gateway's own terms (SPEC §4).

    `prompt` excludes cached and cache-write tokens; `completion` includes reasoning tokens.
    `reported` is True when the upstream sent the numbers, False when they were counted locally.
    """

    prompt: int = 0
    cached: int = 0
    cache_write: int = 0
    completion: int = 0
    reasoning: int = 0
    reported: bool = False

    def clamped(self, cap: int = 10_000_000) -> tuple[Usage, bool]:
        """The same usage with every count inside [0, cap]; the flag says whether anything changed."""
        fields = (self.prompt, self.cached, self.cache_write, self.completion, self.reasoning)
        p, c, w, o, r = (min(max(int(v), 0), cap) for v in fields)
        changed = (p, c, w, o, r) != fields
        return Usage(p, c, w, o, r, reported=self.reported), changed
