"""The routes measured: direct to the fake upstream, through the bare proxy, and through the gateway."""

from __future__ import annotations

from dataclasses import dataclass

from bench.config import caller_keys
from bench.requests import Request, anthropic_body, openai_body

DIRECT = "direct"
BARE = "bare proxy"
GATEWAY = "gateway"
TO_ANTHROPIC = "gateway → anthropic"
TO_GEMINI = "gateway → gemini"
LABELS = (DIRECT, BARE, GATEWAY, TO_ANTHROPIC, TO_GEMINI)
# A diagnostic, not a configuration to run: the same gateway with its ledger on tmpfs, where fsync is free,
# so the difference to GATEWAY is what the durable commits cost (the hold's is on every call's path).
ON_TMPFS = "gateway, ledger on tmpfs (diagnostic)"

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
GEMINI_MODEL = "gemini-2.5-flash"
UPSTREAM_KEY = "sk-upstream-direct-0001"


@dataclass(frozen=True)
class Ports:
    upstream: int
    bare: int
    gateway: int
    gateway_tmpfs: int = 0


def server_of(label: str) -> str:
    """Which process does the work for a route: the one whose CPU is charged to it."""
    return {DIRECT: "upstream", BARE: "bare", ON_TMPFS: "gateway-tmpfs"}.get(label, "gateway")


def request(label: str, ports: Ports, *, stream: bool, shape: str = "") -> Request:
    """The request of route `label`; `shape` is a model suffix such as `-n100-p2` (see bench/replies.py).
    The direct and bare routes speak OpenAI to the upstream; the gateway routes all enter by its OpenAI
    door and differ in the channel the model selects (pass-through, or translated)."""
    if label in (DIRECT, BARE):
        port = ports.upstream if label == DIRECT else ports.bare
        return Request(port, "/v1/chat/completions", openai_body(OPENAI_MODEL + shape, stream),
                       (UPSTREAM_KEY,))
    model = {GATEWAY: OPENAI_MODEL, ON_TMPFS: OPENAI_MODEL, TO_ANTHROPIC: ANTHROPIC_MODEL,
             TO_GEMINI: GEMINI_MODEL}[label]
    port = ports.gateway_tmpfs if label == ON_TMPFS else ports.gateway
    return Request(port, "/v1/chat/completions", openai_body(model + shape, stream),
                   tuple(caller_keys()))


def anthropic_direct(ports: Ports, *, stream: bool, via_bare: bool = False) -> Request:
    """Anthropic's own protocol straight to the upstream (or through the bare proxy): the floor for the
    translated route's upstream leg."""
    port = ports.bare if via_bare else ports.upstream
    return Request(port, "/v1/messages", anthropic_body(ANTHROPIC_MODEL, stream), (UPSTREAM_KEY,),
                   key_header="x-api-key", key_prefix="", extra=(("anthropic-version", "2023-06-01"),))
