"""Token counting (Anthropic `count_tokens`, Gemini `countTokens`): free calls, so no hold and no charge.

A channel of the caller's own type that serves the model answers, passed through untouched (its
tokenizer is the one that will bill the real call). When there is none, or it cannot answer, the
gateway answers from its own estimate (gateway.protocols.estimate) and says so in the
`x-gateway-estimated: true` header. Either way the call leaves one ledger row with quota 0.
Counting never cools a channel down or sets a key aside: an upstream without a count endpoint must not
take its real traffic away.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from gateway import exchange, routing
from gateway.call import Call
from gateway.config.models import GatewayConfig
from gateway.endpoints import upstream_headers, upstream_url
from gateway.ledger.base import LedgerUnavailable, LogRow, Outcome
from gateway.protocols import Protocol, anthropic, estimate, gemini
from gateway.protocols.errors import GatewayError
from gateway.responder import ClientGone, Responder
from gateway.routing import Candidate, Verdict
from gateway.runtime import Runtime
from gateway.settlement import new_row, shielded
from gateway.upstream import UpstreamError

MAX_REPLY = 1024 * 1024
# Upstream answers that say the caller's request is wrong: the caller gets them, not an estimate.
CALLER_FAULTS = frozenset({400, 413, 422})
ESTIMATED_HEADER = "x-gateway-estimated"


def estimated_reply(door: Protocol, body: Mapping[str, Any]) -> dict[str, Any]:
    """The count the gateway answers by itself, in the door's shape."""
    if door is Protocol.GEMINI:
        inner = body.get("generateContentRequest", body.get("generate_content_request"))
        counted = estimate.estimate_prompt_tokens(door, inner if isinstance(inner, Mapping) else body)
        return {"totalTokens": counted}
    return {"input_tokens": estimate.estimate_prompt_tokens(door, body)}


async def handle(rt: Runtime, call: Call, out: Responder) -> None:
    """Answer a count call. Raises GatewayError when the caller must get an error (nothing was sent)."""
    rt.call_started()
    try:
        await _handle(rt, call, out)
    finally:
        rt.call_ended()


async def _handle(rt: Runtime, call: Call, out: Responder) -> None:
    config = call.config or rt.config
    row = new_row(call)
    try:
        candidate = _same_type_candidate(rt, config, call)
        if candidate is None or not await _from_upstream(rt, config, call, candidate, row, out):
            row.channel = row.upstream_model = ""
            row.usage_estimated = True
            await _send(call, row, out, 200, exchange.dumps(estimated_reply(call.door, call.body)),
                        {ESTIMATED_HEADER: "true"})
    except GatewayError as err:
        row.status, row.outcome, row.error = err.http_status, Outcome.ERROR, err.message
        raise
    except ClientGone:
        pass  # the row below says so
    finally:
        if row.status == 0:  # the caller left (or the handler was cancelled) before its answer was out
            row.status, row.outcome, row.error = 499, Outcome.CANCELLED, "client closed the connection"
        row.request_time_ms = int((time.monotonic() - call.started) * 1000)
        rt.metrics.call_finished(config, row)
        await _write(rt, row)


def _same_type_candidate(rt: Runtime, config: GatewayConfig, call: Call) -> Candidate | None:
    """The best channel of the door's type able to count for `call.model` now, or None. A model no
    channel serves for this key is refused (404), as the real call would be."""
    selection = routing.candidates(config, model=call.model, group=call.token.group, state=rt.channels,
                                   now=rt.clock(), forced=call.forced_channel,
                                   excluded=call.excluded_channel)
    if selection.verdict in (Verdict.NO_CHANNEL, Verdict.UNKNOWN_CHANNEL) and selection.error is not None:
        raise selection.error
    for candidate in selection.ordered(rt.rng):
        if candidate.channel.type is call.door:
            return candidate
    return None


async def _from_upstream(rt: Runtime, config: GatewayConfig, call: Call, candidate: Candidate, row: LogRow,
                         out: Responder) -> bool:
    """Relay the channel's count; False when it could not give one (the estimate answers instead)."""
    channel = candidate.channel
    key = rt.channels.next_key(channel, rt.clock())
    if key is None:
        return False
    row.channel, row.upstream_model, row.attempts = channel.name, candidate.upstream_model, 1
    plan = exchange.plan(call, channel.type, upstream_model=candidate.upstream_model,
                         default_max_tokens=config.billing.hold_output_tokens)
    url = upstream_url(channel, plan.endpoint.value, model=candidate.upstream_model, version=plan.version,
                       method=plan.gemini_method or None)
    headers = upstream_headers(channel, key[1], call.passthrough_headers)
    try:
        resp = await rt.upstream.send(channel, method="POST", url=url, headers=headers, body=plan.body)
    except UpstreamError as exc:
        rt.log.info("count_upstream_failed", channel=channel.name, error=str(exc))
        return False
    try:
        body = await resp.read_all(MAX_REPLY)
    except UpstreamError as exc:
        rt.log.info("count_upstream_failed", channel=channel.name, error=str(exc))
        return False
    finally:
        resp.close()
    if resp.status in CALLER_FAULTS:
        module = anthropic if channel.type is Protocol.ANTHROPIC else gemini
        raise GatewayError.from_upstream_status(resp.status, module.error_message(resp.status, body))
    if resp.status != 200 or not _is_object(body):
        rt.log.info("count_upstream_failed", channel=channel.name, status=resp.status)
        return False
    await _send(call, row, out, 200, body, {})
    return True


def _is_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


async def _send(call: Call, row: LogRow, out: Responder, status: int, body: bytes,
                headers: dict[str, str]) -> None:
    row.first_byte_ms = int((time.monotonic() - call.started) * 1000)
    await out.send_json(status, body, {"content-type": "application/json", **headers})
    row.status, row.outcome = status, Outcome.OK


async def _write(rt: Runtime, row: LogRow) -> None:
    row.quota = 0
    try:
        await shielded(rt.ledger.log(row))
    except LedgerUnavailable:  # a free call is answered all the same; only its row is lost
        rt.log.error("ledger_unavailable", request_id=row.request_id)
