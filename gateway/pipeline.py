"""The life of one call: admit, hold, try channels in order, relay the reply, settle once, log once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway import exchange, pricing, routing
from gateway.call import SERVED_BY, Call, Endpoint
from gateway.config.models import Channel, GatewayConfig, Price
from gateway.endpoints import upstream_headers, upstream_url
from gateway.ledger.base import LedgerUnavailable, LogRow, Outcome, QuotaExceeded
from gateway.ledger.retry import retry_in_background
from gateway.protocols import Protocol as Wire
from gateway.protocols import Usage, estimate
from gateway.protocols.errors import GatewayError, stream_error_event
from gateway.protocols.sse import Decoder, Event, SSEError, encode
from gateway.ratelimit import RateLimited, Ticket
from gateway.routing import Candidate
from gateway.runtime import Runtime
from gateway.translate.base import StreamRelay
from gateway.upstream import UpstreamError, UpstreamResponse, UpstreamTimeout

RETRIABLE = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_JSON_REPLY = 64 * 1024 * 1024


class ClientGone(Exception):
    """The caller closed the connection while we were writing to it."""


class Responder(Protocol):
    """How the pipeline answers the caller; the web layer implements it over aiohttp."""

    async def send_json(self, status: int, body: bytes, headers: dict[str, str]) -> None: ...

    async def start_stream(self, status: int, headers: dict[str, str]) -> None: ...

    async def write(self, data: bytes) -> None:
        """Raises ClientGone once the caller has gone."""

    async def finish(self) -> None: ...


class _Retry(Exception):
    """This channel failed in a way the next candidate may not; nothing reached the caller.
    `next_key`: the upstream refused the key only, and the channel has another one to try."""

    def __init__(self, error: GatewayError, *, next_key: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.next_key = next_key


@dataclass(slots=True)
class Admission:
    price: Price
    candidates: list[Candidate]
    prompt_tokens: int  # the estimate the hold was taken on
    hold: int
    limit_tokens: int = 0  # prompt estimate + maximum output, for the token's tpm limit
    ticket: Ticket = field(default_factory=Ticket)  # its share of the token's rate limits


class Settlement:
    """Closes a call's hold exactly once: settled at cost, or released; always with its log row."""

    def __init__(self, rt: Runtime, config: GatewayConfig, call: Call, row: LogRow, admission: Admission):
        self.rt, self.config, self.call, self.row, self.admission = rt, config, call, row, admission
        self.done = False
        self.upstream_sent: float | None = None  # monotonic time of the first upstream send
        self.relay_seconds = 0.0  # time spent handling the reply, upstream waits excluded

    def overhead_seconds(self, handling: float = 0.0) -> float:
        """Time spent in the gateway, waits on the upstream excluded: arrival to the first upstream
        send, plus reply handling so far (`handling`: the part not yet added to relay_seconds)."""
        sent = self.upstream_sent if self.upstream_sent is not None else time.monotonic()
        return sent - self.call.started + self.relay_seconds + handling

    async def settle(self, usage: Usage, channel: Channel, *, outcome: Outcome, status: int) -> None:
        if self.done:
            return
        self.done = True
        usage, clamped = usage.clamped()
        multiplier = channel.multiplier * self.config.group(self.call.token.group).multiplier
        charge = pricing.cost(self.admission.price, usage, quota_per_usd=self.config.billing.quota_per_usd,
                              multiplier=multiplier)
        row = self.row
        flags = [f for f in (row.flags,) if f]
        if clamped:  # negative or absurd numbers: the upstream is broken, never bill past the hold
            flags.append("usage_clamped")
            charge = min(charge, self.admission.hold)
        if charge > self.admission.hold:
            flags.append("over_hold")
        row.outcome, row.status, row.quota, row.flags = outcome, status, charge, ",".join(flags)
        row.prompt_tokens, row.completion_tokens = usage.prompt, usage.completion
        row.cached_tokens, row.cache_write_tokens = usage.cached, usage.cache_write
        row.reasoning_tokens, row.usage_estimated = usage.reasoning, not usage.reported
        self._finish_times()
        if clamped:  # before the write: a caller that hangs up cancels the handler at that await
            self.rt.log.warning("usage_clamped", channel=channel.name, model=self.call.model, charge=charge)
        await self._close(self.rt.ledger.settle)

    async def release(self, status: int, error: str, *, outcome: Outcome = Outcome.ERROR) -> None:
        if self.done:
            return
        self.done = True
        self.row.outcome, self.row.status, self.row.error, self.row.quota = outcome, status, error, 0
        self._finish_times()
        await self._close(self.rt.ledger.release)

    async def _close(self, close: Callable[[LogRow], Awaitable[bool]]) -> None:
        """Write the row and close the hold; a database that cannot take it now gets it later."""
        write = asyncio.ensure_future(close(self.row))
        try:
            await shielded(write)
        except LedgerUnavailable as exc:
            retry_in_background(close, self.row, self.rt.log, exc)
        except asyncio.CancelledError:  # the caller left meanwhile: the write still matters
            failure = write.exception() if write.done() and not write.cancelled() else None
            if isinstance(failure, LedgerUnavailable):
                retry_in_background(close, self.row, self.rt.log, failure)
            raise

    def _finish_times(self) -> None:
        self.row.request_time_ms = int((time.monotonic() - self.call.started) * 1000)
        overhead = None
        if self.upstream_sent is not None:
            overhead = self.overhead_seconds()
        self.rt.metrics.call_finished(self.config, self.row, held=True, overhead=overhead)
        row = self.row  # tpm counts what was billed; a released call counts nothing
        self.rt.limits.correct(self.admission.ticket, row.prompt_tokens + row.cached_tokens
                               + row.cache_write_tokens + row.completion_tokens if row.quota else 0)


async def shielded(write: Any) -> Any:
    """Ledger writes complete even when the handler is cancelled (a vanished caller)."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # Let the write land before the cancellation goes on: until then the call still counts as in
        # flight (`Runtime.idle`, shutdown), or its row could be lost with a ledger closed under it.
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what propagates
        raise


def new_row(call: Call) -> LogRow:
    return LogRow(request_id=call.request_id, token=call.token.name, model=call.model, time=call.arrived,
                  protocol=call.door.value, endpoint=call.endpoint.value, stream=call.stream,
                  client_ip=call.client_ip)


def admit(rt: Runtime, config: GatewayConfig, call: Call) -> Admission:
    """Price, candidates and hold size for `call`, or the GatewayError that refuses it."""
    price = pricing.price_for(config.pricing, call.model)
    now = rt.clock()
    expired = rt.channels.expire(now)
    for event in expired:
        rt.log.info(event.name, **event.fields)
    rt.notifier.channel_events(expired)
    selection = routing.candidates(config, model=call.model, group=call.token.group, state=rt.channels,
                                   now=now, forced=call.forced_channel, excluded=call.excluded_channel,
                                   types=SERVED_BY[call.endpoint])
    if selection.error is not None:
        raise selection.error
    if price is None:
        raise GatewayError("invalid_request", f"no price configured for model {call.model}", param="model")
    prompt_tokens = estimate.estimate_prompt_tokens(call.door, call.body)
    max_out = call.max_output_tokens
    if max_out is None:
        max_out = config.billing.hold_output_tokens
    if call.endpoint is Endpoint.EMBEDDINGS:
        max_out = 0
    multiplier = max(c.multiplier for c in selection.channels) * config.group(call.token.group).multiplier
    hold = pricing.hold_amount(price, prompt_tokens=prompt_tokens, max_output_tokens=max_out,
                               quota_per_usd=config.billing.quota_per_usd, multiplier=multiplier,
                               choices=call.choices)
    return Admission(price=price, candidates=selection.ordered(rt.rng), prompt_tokens=prompt_tokens,
                     hold=hold, limit_tokens=prompt_tokens + max_out * call.choices)


async def handle(rt: Runtime, call: Call, out: Responder) -> None:
    """Serve `call`. Raises GatewayError when the caller must get an error and nothing was sent yet."""
    rt.call_started()
    ticket = Ticket()
    try:
        await _handle(rt, call, out, ticket)
    finally:
        rt.limits.finish(ticket)
        rt.call_ended()


async def _handle(rt: Runtime, call: Call, out: Responder, ticket: Ticket) -> None:
    config = rt.config  # this call's snapshot, whatever a reload does meanwhile
    row = new_row(call)
    try:
        admission = admit(rt, config, call)
        admission.ticket = rt.limits.admit(call.token, admission.limit_tokens, ticket)
        await rt.ledger.hold(call.request_id, call.token.name, call.token.grant, admission.hold,
                             model=call.model)
    except RateLimited as limited:
        rt.metrics.rate_limited.labels(limited.limit).inc()
        err = GatewayError("rate_limited", limited.message, headers={"Retry-After": str(limited.retry_after)})
        await _refuse(rt, row, err)
        raise err from None
    except QuotaExceeded:
        rt.notifier.quota_refused(call.token)
        err = GatewayError("insufficient_quota",
                           "You exceeded your current quota: this key has not enough quota left for the "
                           "request.")
        await _refuse(rt, row, err)
        raise err from None
    except LedgerUnavailable:
        raise GatewayError("unavailable", "the quota ledger is unavailable; try again later") from None
    except GatewayError as err:
        await _refuse(rt, row, err)
        raise
    except asyncio.CancelledError:
        # The hold may have committed just before the cancellation reached this task: close it
        # (the ledger makes this a no-op when no hold is open) so no quota stays held until restart.
        row.status, row.outcome, row.error = 499, Outcome.CANCELLED, "caller left before the call started"
        await shielded(rt.ledger.release(row))
        raise
    settlement = Settlement(rt, config, call, row, admission)
    try:
        await _try_channels(rt, config, call, admission, settlement, out)
    except GatewayError as err:
        await settlement.release(err.http_status, err.message)
        raise
    except Exception as exc:  # a bug of ours: the caller gets a 500, the row says so
        await settlement.release(500, f"internal error: {type(exc).__name__}")
        raise
    finally:
        if not settlement.done:  # cancelled or an unexpected error: never leave a hold open
            await settlement.release(499 if row.first_byte_ms is None else row.status or 500,
                                     "call ended before settling", outcome=Outcome.CANCELLED)
    if row.quota:  # settled and written: a look at the balance for low-quota notifications
        rt.notifier.quota_used(call.token)


async def _refuse(rt: Runtime, row: LogRow, err: GatewayError) -> None:
    row.status, row.outcome, row.error = err.http_status, Outcome.ERROR, err.message
    rt.metrics.call_finished(rt.config, row)
    try:
        await shielded(rt.ledger.log(row))
    except LedgerUnavailable:
        rt.log.error("ledger_unavailable", request_id=row.request_id)


async def _try_channels(rt: Runtime, config: GatewayConfig, call: Call, admission: Admission,
                        settlement: Settlement, out: Responder) -> None:
    tries = 1 if call.forced_channel is not None else config.routing.retries + 1
    last: GatewayError | None = None
    attempt = 0
    for candidate in admission.candidates[:tries]:
        channel = candidate.channel
        # A refused key sets only that key aside, so the same channel goes on with its next key
        # (bounded by its key count); anything else moves to the next channel.
        for _ in range(max(1, len(channel.keys))):
            attempt += 1
            settlement.row.attempts = attempt
            settlement.row.channel = channel.name
            try:
                await _attempt(rt, config, call, admission, settlement, candidate, out)
                return
            except _Retry as retry:
                last = retry.error
                rt.log.info("upstream_failed", channel=channel.name, model=call.model, attempt=attempt,
                            status=retry.error.http_status, error=retry.error.message)
                if not retry.next_key:
                    break
    raise last or GatewayError("unavailable", f"no channel could serve model {call.model}")


async def _attempt(rt: Runtime, config: GatewayConfig, call: Call, admission: Admission,
                   settlement: Settlement, candidate: Candidate, out: Responder) -> None:
    channel = candidate.channel
    key = rt.channels.next_key(channel, rt.clock())
    if key is None:
        raise _Retry(GatewayError("unavailable", f"channel {channel.name} has no usable key"))
    key_index, secret = key
    upstream_model = candidate.upstream_model
    settlement.row.upstream_model = upstream_model
    plan = exchange.plan(call, channel.type, upstream_model=upstream_model,
                         default_max_tokens=config.billing.hold_output_tokens)
    url = upstream_url(channel, plan.endpoint.value, model=upstream_model, stream=plan.stream,
                       version=plan.version, method=plan.gemini_method)
    passed_on = call.passthrough_headers if channel.type is call.door else None  # e.g. anthropic-beta
    headers = upstream_headers(channel, secret, passed_on, stream=plan.stream)
    sent_at = time.monotonic()
    if settlement.upstream_sent is None:
        settlement.upstream_sent = sent_at
    try:
        resp = await rt.upstream.send(channel, method="POST", url=url, headers=headers, body=plan.body)
    except UpstreamTimeout as exc:
        _failed(rt, channel, call, None, str(exc))
        raise _Retry(GatewayError("timeout", f"channel {channel.name}: {exc}")) from None
    except UpstreamError as exc:
        _failed(rt, channel, call, None, str(exc))
        raise _Retry(GatewayError("bad_gateway", f"channel {channel.name}: {exc}")) from None
    try:
        if resp.status >= 300:
            await _upstream_error(rt, call, channel, key_index, resp)
        for event in rt.channels.record_success(channel, call.model, now=rt.clock(),
                                                latency=time.monotonic() - sent_at):
            rt.log.info(event.name, **event.fields)
        headers_out = {"x-gateway-channel-attempts": str(settlement.row.attempts)}
        if plan.dropped:
            headers_out["x-gateway-dropped"] = ",".join(sorted(set(plan.dropped)))
        if plan.stream:
            await _relay_stream(rt, call, admission, settlement, channel, plan, resp, out, headers_out)
        else:
            await _relay_json(call, admission, settlement, channel, plan, resp, out, headers_out)
    finally:
        resp.close()


def _failed(rt: Runtime, channel: Channel, call: Call, status: int | None, message: str, *,
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


async def _upstream_error(rt: Runtime, call: Call, channel: Channel, key_index: int | None,
                          resp: UpstreamResponse) -> None:
    """Decide what an upstream error status means: fail over, or tell the caller. Always raises."""
    status = resp.status
    try:
        body = await resp.read_all(1024 * 1024)
    except UpstreamError:
        body = b""
    message = _upstream_message(channel.type, status, body)
    if status in (401, 403):
        _failed(rt, channel, call, status, message, key_index=key_index)
        if not rt.channels.has_usable_key(channel, rt.clock()):
            raise _Retry(GatewayError("unavailable", f"channel {channel.name} has no usable key: the "
                                                     "upstream refused every one"))
        raise _Retry(GatewayError("bad_gateway", f"channel {channel.name} rejected its credentials"),
                     next_key=key_index is not None)
    if 300 <= status < 400:
        _failed(rt, channel, call, None, "redirect")
        raise _Retry(GatewayError("bad_gateway", f"channel {channel.name} answered with a redirect"))
    if status in RETRIABLE or status >= 500:
        _failed(rt, channel, call, status, message, headers=resp.headers)
        raise _Retry(_failover_error(channel, status, message))
    raise GatewayError.from_upstream_status(status, message)


def _failover_error(channel: Channel, status: int, message: str) -> GatewayError:
    """What the caller gets if this retriable failure is the call's last: 502/503/504, never the
    upstream's 429 (it is the channel that is limited, not the caller's key)."""
    kind = {408: "timeout", 504: "timeout", 429: "unavailable", 503: "unavailable",
            529: "unavailable"}.get(status, "bad_gateway")
    return GatewayError(kind, f"channel {channel.name} answered {status}: {message}")  # the row keeps it


def _upstream_message(channel_type: Wire, status: int, body: bytes) -> str:
    from gateway.protocols import anthropic, gemini, openai

    module = {Wire.OPENAI: openai, Wire.ANTHROPIC: anthropic, Wire.GEMINI: gemini}[channel_type]
    return str(module.error_message(status, body))


def _estimated(admission: Admission, output_chars: int, reported: Usage | None, finished: bool) -> Usage:
    """Usage to bill: what the upstream reported, topped up from relayed text when it stopped early."""
    counted = estimate.tokens_from_chars(output_chars)
    if reported is None or not reported.reported:
        return Usage(prompt=admission.prompt_tokens, completion=counted, reported=False)
    if not finished and counted > reported.completion:
        reported.completion = counted
    return reported


async def _relay_json(call: Call, admission: Admission, settlement: Settlement, channel: Channel,
                      plan: exchange.Plan, resp: UpstreamResponse, out: Responder,
                      headers: dict[str, str]) -> None:
    try:
        raw = await resp.read_all(MAX_JSON_REPLY)
        relaying = time.monotonic()
        reply = json.loads(raw)
    except (UpstreamError, ValueError) as exc:
        raise _Retry(GatewayError("bad_gateway", f"channel {channel.name} sent an unreadable reply: "
                                                  f"{type(exc).__name__}")) from None
    if not isinstance(reply, dict):
        raise _Retry(GatewayError("bad_gateway", f"channel {channel.name} sent a non-object reply"))
    assert plan.convert is not None
    body, usage, dropped = plan.convert(reply)
    if dropped:
        names = set(headers.get("x-gateway-dropped", "").split(",")) | set(dropped)
        headers["x-gateway-dropped"] = ",".join(sorted(n for n in names if n))
    payload = raw if body is None else exchange.dumps(body)
    headers["content-type"] = "application/json"
    settlement.row.first_byte_ms = int((time.monotonic() - call.started) * 1000)
    usage_billed = _estimated(admission, 0, usage, True)
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


async def _relay_stream(rt: Runtime, call: Call, admission: Admission, settlement: Settlement,
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
                _failed(rt, channel, call, failure.status, failure.message)
                raise _Retry(_failover_error(channel, failure.status, failure.message))
            headers["x-gateway-overhead-ms"] = _ms(settlement.overhead_seconds())  # up to the first byte
            await out.start_stream(200, headers)
            started = True
            row.first_byte_ms = int((time.monotonic() - call.started) * 1000)
        await out.write(data)

    async def relay_events(received: list[Event]) -> None:
        """One write per upstream read, however many events it brought (a burst is one syscall);
        what came before an upstream error event still goes out first, as it would one by one."""
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
        await send(batch)

    outcome, status, error = Outcome.OK, 200, ""
    try:
        async for chunk in resp.iter_chunks():
            relaying = time.monotonic()
            await relay_events(decoder.feed(chunk))
            settlement.relay_seconds += time.monotonic() - relaying
        await relay_events(decoder.flush())
        if relay.finished or relay.failure is not None:
            await send(relay.flush())
        elif not started:
            _failed(rt, channel, call, None, "ended the stream early")
            raise _Retry(GatewayError("bad_gateway", f"channel {channel.name} ended the stream early"))
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
            _failed(rt, channel, call, None, str(exc))
            kind = "timeout" if isinstance(exc, UpstreamTimeout) else "bad_gateway"
            raise _Retry(GatewayError(kind, f"channel {channel.name}: {exc}")) from None
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
        await settlement.settle(_estimated(admission, relay.output_chars, relay.usage, False), channel,
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
        await settlement.settle(_estimated(admission, relay.output_chars, relay.usage, False), channel,
                                outcome=Outcome.ERROR, status=status)
        return
    row.error = error
    if outcome is Outcome.ERROR:  # broken after bytes went out: not replayed, but the channel is told
        _failed(rt, channel, call, relay.failure.status if relay.failure else None, error)
    await settlement.settle(_estimated(admission, relay.output_chars, relay.usage, relay.finished),
                            channel, outcome=outcome, status=status)
