"""The life of one call: admit, hold, try channels in order, relay the reply, settle once, log once."""

from __future__ import annotations

import asyncio
import time

from gateway import exchange, pricing, routing
from gateway.call import SERVED_BY, Call, Endpoint
from gateway.config.models import GatewayConfig
from gateway.endpoints import upstream_headers, upstream_url
from gateway.failover import Retry, record_failure, upstream_error
from gateway.ledger.base import LedgerUnavailable, LogRow, Outcome, QuotaExceeded
from gateway.protocols import estimate
from gateway.protocols.errors import GatewayError
from gateway.ratelimit import RateLimited, Ticket
from gateway.relay import relay_json, relay_stream
from gateway.responder import ClientGone, Responder
from gateway.routing import Candidate
from gateway.runtime import Runtime
from gateway.settlement import Admission, Settlement, new_row, shielded
from gateway.upstream import UpstreamError, UpstreamTimeout

__all__ = ["ClientGone", "Responder", "admit", "handle", "new_row", "shielded"]


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
    config = call.config or rt.config  # this call's snapshot, whatever a reload does meanwhile
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
            except Retry as retry:
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
        raise Retry(GatewayError("unavailable", f"channel {channel.name} has no usable key"))
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
        record_failure(rt, channel, call, None, str(exc))
        raise Retry(GatewayError("timeout", f"channel {channel.name}: {exc}")) from None
    except UpstreamError as exc:
        record_failure(rt, channel, call, None, str(exc))
        raise Retry(GatewayError("bad_gateway", f"channel {channel.name}: {exc}")) from None
    try:
        if resp.status >= 300:
            await upstream_error(rt, call, channel, key_index, resp)
        for event in rt.channels.record_success(channel, call.model, now=rt.clock(),
                                                latency=time.monotonic() - sent_at):
            rt.log.info(event.name, **event.fields)
        headers_out = {"x-gateway-channel-attempts": str(settlement.row.attempts)}
        if plan.dropped:
            headers_out["x-gateway-dropped"] = ",".join(sorted(set(plan.dropped)))
        if plan.stream:
            await relay_stream(rt, call, admission, settlement, channel, plan, resp, out, headers_out)
        else:
            await relay_json(call, admission, settlement, channel, plan, resp, out, headers_out)
    finally:
        resp.close()
