"""What an upstream failure means for a call: try the next key or channel, or tell the caller."""

from __future__ import annotations

from typing import Any

from gateway.call import Call
from gateway.config.models import Channel
from gateway.protocols import Protocol as Wire
from gateway.protocols.errors import GatewayError
from gateway.runtime import Runtime
from gateway.upstream import UpstreamError, UpstreamResponse

RETRIABLE = frozenset({408, 429, 500, 502, 503, 504, 529})


class Retry(Exception):
    """This channel failed in a way the next candidate may not; nothing reached the caller.
    `next_key`: the upstream refused the key only, and the channel has another one to try."""

    def __init__(self, error: GatewayError, *, next_key: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.next_key = next_key


def record_failure(rt: Runtime, channel: Channel, call: Call, status: int | None, message: str, *,
                   key_index: int | None = None, headers: Any = None) -> None:
    """Tell the channel state an attempt failed (it cools the pair or sets the key aside) and log it."""
    rt.metrics.upstream_failed(channel.name, status)
    events = rt.channels.record_failure(
        channel, call.model, now=rt.clock(), status=status, cooldown=rt.config.routing.cooldown_seconds,
        message=message, key_index=key_index,
        retry_after=headers.get("retry-after") if headers is not None else None,
        retry_after_ms=headers.get("retry-after-ms") if headers is not None else None)
    for event in events:
        rt.log.warning(event.name, **event.fields)
    rt.notifier.channel_events(events)


async def upstream_error(rt: Runtime, call: Call, channel: Channel, key_index: int | None,
                         resp: UpstreamResponse) -> None:
    """Decide what an upstream error status means: fail over, or tell the caller. Always raises."""
    status = resp.status
    try:
        body = await resp.read_all(1024 * 1024)
    except UpstreamError:
        body = b""
    message = upstream_message(channel.type, status, body)
    if status in (401, 403):
        record_failure(rt, channel, call, status, message, key_index=key_index)
        if not rt.channels.has_usable_key(channel, rt.clock()):
            raise Retry(GatewayError("unavailable", f"channel {channel.name} has no usable key: the "
                                                     "upstream refused every one"))
        raise Retry(GatewayError("bad_gateway", f"channel {channel.name} rejected its credentials"),
                     next_key=key_index is not None)
    if 300 <= status < 400:
        record_failure(rt, channel, call, None, "redirect")
        raise Retry(GatewayError("bad_gateway", f"channel {channel.name} answered with a redirect"))
    if status in RETRIABLE or status >= 500:
        record_failure(rt, channel, call, status, message, headers=resp.headers)
        raise Retry(failover_error(channel, status, message))
    raise GatewayError.from_upstream_status(status, message)


def failover_error(channel: Channel, status: int, message: str) -> GatewayError:
    """What the caller gets if this retriable failure is the call's last: 502/503/504, never the
    upstream's 429 (it is the channel that is limited, not the caller's key)."""
    kind = {408: "timeout", 504: "timeout", 429: "unavailable", 503: "unavailable",
            529: "unavailable"}.get(status, "bad_gateway")
    return GatewayError(kind, f"channel {channel.name} answered {status}: {message}")  # the row keeps it


def upstream_message(channel_type: Wire, status: int, body: bytes) -> str:
    from gateway.protocols import anthropic, gemini, openai

    module = {Wire.OPENAI: openai, Wire.ANTHROPIC: anthropic, Wire.GEMINI: gemini}[channel_type]
    return str(module.error_message(status, body))
