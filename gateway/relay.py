"""Carrying an upstream's reply to the caller: one JSON body, or a stream event by event."""

from __future__ import annotations

import asyncio
import contextlib
import time

from gateway import exchange, fastjson
from gateway.call import Call
from gateway.config.models import Channel
from gateway.failover import RETRIABLE, Retry, failover_error, record_failure
from gateway.ledger.base import Outcome
from gateway.protocols import Protocol as Wire
from gateway.protocols.errors import GatewayError, stream_error_event
from gateway.protocols.sse import Decoder, Event, SSEError, encode
from gateway.responder import ClientGone, Responder
from gateway.runtime import Runtime
from gateway.settlement import Admission, Settlement, usage_to_bill
from gateway.translate.base import StreamRelay
from gateway.upstream import UpstreamError, UpstreamResponse, UpstreamTimeout

MAX_JSON_REPLY = 64 * 1024 * 1024


async def relay_json(call: Call, admission: Admission, settlement: Settlement, channel: Channel,
                     plan: exchange.Plan, resp: UpstreamResponse, out: Responder,
                     headers: dict[str, str]) -> None:
    try:
        raw = await resp.read_all(MAX_JSON_REPLY)
        relaying = time.monotonic()
        reply = fastjson.loads(raw)
    except (UpstreamError, ValueError) as exc:
        raise Retry(GatewayError("bad_gateway", f"channel {channel.name} sent an unreadable reply: "
                                                  f"{type(exc).__name__}")) from None
    if not isinstance(reply, dict):
        raise Retry(GatewayError("bad_gateway", f"channel {channel.name} sent a non-object reply"))
    assert plan.convert is not None
    body, usage, dropped = plan.convert(reply)
    if dropped:
        names = set(headers.get("x-gateway-dropped", "").split(",")) | set(dropped)
        headers["x-gateway-dropped"] = ",".join(sorted(n for n in names if n))
    payload = raw if body is None else exchange.dumps(body)
    headers["content-type"] = "application/json"
    settlement.row.first_byte_ms = int((time.monotonic() - call.started) * 1000)
    usage_billed = usage_to_bill(admission, 0, usage, True)
    headers["x-gateway-overhead-ms"] = _ms(settlement.overhead_seconds(time.monotonic() - relaying))
    try:
        with contextlib.suppress(ClientGone):  # the upstream did the work: it is billed all the same
            await out.send_json(resp.status, payload, headers)
    except asyncio.CancelledError:
        await settlement.settle(usage_billed, channel, outcome=Outcome.CANCELLED, status=499)
        raise
    settlement.relay_seconds += time.monotonic() - relaying
    await settlement.settle(usage_billed, channel, outcome=Outcome.OK, status=resp.status)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


class _Framer:
    """Caller-side framing: SSE for everyone, a streamed JSON array for Gemini without alt=sse."""

    def __init__(self, array: bool) -> None:
        self.array = array
        self.count = 0

    def frame(self, event: Event) -> bytes:
        if not self.array:
            return encode(event)
        prefix = b"[" if self.count == 0 else b",\r\n"
        self.count += 1
        return prefix + event.data.encode()

    def close(self) -> bytes:
        if not self.array:
            return b""
        return b"]" if self.count else b"[]"


async def relay_stream(rt: Runtime, call: Call, admission: Admission, settlement: Settlement,
                       channel: Channel, plan: exchange.Plan, resp: UpstreamResponse, out: Responder,
                       headers: dict[str, str]) -> None:
    assert plan.new_relay is not None
    relay: StreamRelay = plan.new_relay()
    decoder = Decoder()
    framer = _Framer(array=call.door is Wire.GEMINI and not call.gemini_sse)
    headers["content-type"] = "application/json" if framer.array else "text/event-stream; charset=utf-8"
    headers["cache-control"] = "no-cache"
    started = False
    row = settlement.row

    async def send(events: list[Event], *, before_failure: bool = False) -> None:
        nonlocal started
        if not events:
            return
        data = b"".join(framer.frame(e) for e in events)
        if not started:
            if relay.failure is not None and not before_failure:  # an error before any output
                failure = relay.failure
                if failure.status not in RETRIABLE and failure.status < 500:
                    raise GatewayError.from_upstream_status(failure.status, failure.message)
                record_failure(rt, channel, call, failure.status, failure.message)
                raise Retry(failover_error(channel, failure.status, failure.message))
            headers["x-gateway-overhead-ms"] = _ms(settlement.overhead_seconds())  # up to the first byte
            await out.start_stream(200, headers)
            started = True
            row.first_byte_ms = int((time.monotonic() - call.started) * 1000)
        await out.write(data)

    async def relay_events(received: list[Event]) -> None:
        """One write per upstream read, however many events it brought (a burst is one syscall),
        except that the caller's first byte does not wait for the rest of the burst to be worked
        through; what came before an upstream error event still goes out first, as it would one by one."""
        batch: list[Event] = []
        for event in received:
            clean = relay.failure is None
            try:
                produced = relay.feed(event)
            except Exception:
                await send(batch)  # a bug of ours on this event: what came before still goes out
                raise
            if clean and relay.failure is not None and batch:
                await send(batch, before_failure=True)
                batch = []
            batch.extend(produced)
            if not started and batch:
                await send(batch)
                batch = []
        await send(batch)

    outcome, status, error = Outcome.OK, 200, ""
    try:
        async for chunk in resp.iter_chunks():
            relaying = time.monotonic()
            if not started:  # the caller's first byte waits for the first event, not the whole burst
                cut = chunk.find(b"\n\n") + 2
                if 1 < cut < len(chunk):
                    await relay_events(decoder.feed(chunk[:cut]))
                    chunk = chunk[cut:]
            await relay_events(decoder.feed(chunk))
            settlement.relay_seconds += time.monotonic() - relaying
        await relay_events(decoder.flush())
        if relay.finished or relay.failure is not None:
            await send(relay.flush())
        elif not started:
            record_failure(rt, channel, call, None, "ended the stream early")
            raise Retry(GatewayError("bad_gateway", f"channel {channel.name} ended the stream early"))
        else:  # cut short without an error event: say so rather than fake a clean end
            outcome, error = Outcome.ERROR, "the upstream ended the stream before finishing"
            await send([stream_error_event(call.door, GatewayError("bad_gateway", error))])
        if not started:
            await out.start_stream(200, headers)
            started = True
        tail = framer.close()
        if tail:
            await out.write(tail)
        await out.finish()
        if relay.failure is not None:
            outcome, error = Outcome.ERROR, relay.failure.message
    except ClientGone:
        outcome, status, error = Outcome.CANCELLED, 499, "client closed the stream"
    except (UpstreamError, SSEError) as exc:
        if not started:
            record_failure(rt, channel, call, None, str(exc))
            kind = "timeout" if isinstance(exc, UpstreamTimeout) else "bad_gateway"
            raise Retry(GatewayError(kind, f"channel {channel.name}: {exc}")) from None
        outcome, error = Outcome.ERROR, f"upstream stream failed: {exc}"
        err = GatewayError("bad_gateway", f"the upstream stream failed: {exc}")
        try:
            await out.write(framer.frame(stream_error_event(call.door, err)) + framer.close())
            await out.finish()
        except ClientGone:
            pass
    except asyncio.CancelledError:
        outcome, status, error = Outcome.CANCELLED, 499, "client closed the stream"
        row.error = error
        await settlement.settle(usage_to_bill(admission, relay.output_chars, relay.usage, False), channel,
                                outcome=outcome, status=status)
        raise
    except Exception as exc:  # a bug of ours mid-stream: end the caller's stream, bill what went out
        if not started:
            raise
        rt.log.exception("relay_failed", channel=channel.name, error=type(exc).__name__)
        row.error = f"internal error: {type(exc).__name__}"
        with contextlib.suppress(ClientGone):
            err = GatewayError("internal", "The gateway failed while relaying the reply.")
            await out.write(framer.frame(stream_error_event(call.door, err)) + framer.close())
            await out.finish()
        await settlement.settle(usage_to_bill(admission, relay.output_chars, relay.usage, False), channel,
                                outcome=Outcome.ERROR, status=status)
        return
    row.error = error
    if outcome is Outcome.ERROR:  # broken after bytes went out: not replayed, but the channel is told
        record_failure(rt, channel, call, relay.failure.status if relay.failure else None, error)
    await settlement.settle(usage_to_bill(admission, relay.output_chars, relay.usage, relay.finished),
                            channel, outcome=outcome, status=status)
