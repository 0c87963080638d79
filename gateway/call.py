"""One inbound call as the pipeline sees it: who asked, through which door, for what."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from gateway.config.models import GatewayConfig, Token
from gateway.protocols import Protocol


class Endpoint(enum.StrEnum):
    CHAT = "chat"  # OpenAI chat completions, Anthropic messages, Gemini generateContent
    EMBEDDINGS = "embeddings"
    COMPLETIONS = "completions"  # OpenAI legacy completions (openai channels only)
    RESPONSES = "responses"  # OpenAI Responses API (openai channels only)
    COUNT_TOKENS = "count_tokens"


# Which channel types can serve an endpoint arriving through a door.
SERVED_BY: dict[Endpoint, frozenset[Protocol]] = {
    Endpoint.CHAT: frozenset(Protocol),
    Endpoint.EMBEDDINGS: frozenset({Protocol.OPENAI, Protocol.GEMINI}),
    Endpoint.COMPLETIONS: frozenset({Protocol.OPENAI}),
    Endpoint.RESPONSES: frozenset({Protocol.OPENAI}),
    Endpoint.COUNT_TOKENS: frozenset(Protocol),
}


@dataclass(slots=True)
class Call:
    request_id: str
    door: Protocol
    endpoint: Endpoint
    token: Token
    model: str  # as the caller named it: routed, authorised and billed under this name
    body: dict[str, Any]
    raw: bytes  # the body as received, forwarded untouched when nothing needs rewriting
    stream: bool = False
    max_output_tokens: int | None = None
    choices: int = 1
    wants_usage: bool = False  # OpenAI stream_options.include_usage as the caller set it
    client_ip: str = ""
    arrived: float = 0.0  # wall clock, unix seconds
    started: float = 0.0  # monotonic clock, for durations
    forced_channel: str | None = None
    excluded_channel: str | None = None
    gemini_version: str = "v1beta"
    gemini_method: str = ""  # generateContent | streamGenerateContent | countTokens | embedContent | ...
    gemini_sse: bool = True  # caller asked for alt=sse (else a streamed JSON array)
    passthrough_headers: dict[str, str] = field(default_factory=dict)
    # The configuration the caller was authenticated against: the whole call runs on it, so a reload
    # between reading the key and routing cannot pull the token's group or channels from under it.
    config: GatewayConfig | None = None  # e.g. anthropic-beta
