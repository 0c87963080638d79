"""Property-based fuzzing of the request side, without a socket: the strict body parser, each protocol's
request facts, the prompt estimate, and the translate request adapters never raise anything but a
GatewayError (a 400 for the caller), whatever JSON-ish body they are given."""

from __future__ import annotations

import contextlib
import json
import traceback
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import exchange, translate
from gateway.call import Call, Endpoint
from gateway.config.models import Token
from gateway.protocols import Protocol, anthropic, estimate, gemini, json_body, openai
from gateway.protocols.errors import GatewayError
from gateway.protocols.facts import RequestFacts
from tests.hardening.fuzz_bodies import (
    GEMINI_COUNT,
    GEMINI_EMBED,
    JSON,
    OBJECTS,
    OPENAI_EMBEDDINGS,
    RICH,
    RICH_EMBEDDINGS,
    bodies,
    near_valid,
    one_place_mutations,
)

FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI
TOKEN = Token.model_validate({"name": "fuzz", "key": "sk-fuzz-key-000000", "unlimited": True})

# JSON text pieces, including every kind of token the strict parser must refuse.
PIECES = st.sampled_from(['{', '}', '[', ']', ',', ':', '"model"', '"messages"', '"a"', '1', '-0', '1e999',
                          '1.5e-7', 'NaN', 'Infinity', '-Infinity', 'true', 'null', '"\\ud800"', '"\\udc00\\ud800"',
                          '"\\ud83d\\ude00"', '"x"', ' ', '\n', '"\\u0000"', '12345678901234567890123'])
RAW = st.one_of(st.binary(max_size=64), st.lists(PIECES, max_size=30).map("".join).map(str.encode),
                JSON.map(lambda v: json.dumps(v).encode()),
                st.dictionaries(st.sampled_from(["model", "a", "mod\\u0065l"]), JSON, max_size=3).map(
                    lambda d: ("{" + ",".join(f'"{k}":{json.dumps(v)}' for k, v in d.items()) + ',"model":1}')
                    .encode()))


@FUZZ
@given(RAW)
def test_the_body_parser_accepts_only_what_a_strict_parser_reads_the_same(raw: bytes) -> None:
    orjson = pytest.importorskip("orjson")  # the `fast` extra
    try:
        body = json_body.parse_object(raw)
    except GatewayError as err:
        assert err.http_status == 400
        return
    # A second, independent parser (orjson: strict UTF-8, no NaN, no lone surrogates) reads the same
    # object; it refuses only integers beyond 64 bits, which Python keeps exactly.
    try:
        assert orjson.loads(raw) == body
    except orjson.JSONDecodeError as err:
        assert "integer" in str(err).lower(), err
    assert json.loads(exchange.dumps(body)) == body  # what a rewritten pass-through sends is the same


def chat_facts(door: Protocol, body: Any, *, stream: bool = False) -> RequestFacts:
    if door is OPENAI:
        return openai.request_facts("chat", body)
    if door is ANTHROPIC:
        return anthropic.request_facts("chat", body)
    return gemini.request_facts("chat", body, model="gemini-2.5-flash", stream=stream)


def call_for(door: Protocol, endpoint: Endpoint, body: dict[str, Any], facts: RequestFacts) -> Call:
    return Call(request_id="fuzz", door=door, endpoint=endpoint, token=TOKEN, model=facts.model, body=body,
                raw=exchange.dumps(body), stream=facts.stream, max_output_tokens=facts.max_output_tokens,
                choices=facts.n, wants_usage=facts.wants_usage, gemini_method="generateContent")


@pytest.mark.parametrize("door", list(Protocol), ids=lambda d: d.value)
@FUZZ
@given(data=st.data())
def test_chat_facts_estimate_and_adapters_raise_only_gateway_errors(door: Protocol, data: st.DataObject) -> None:
    body = data.draw(st.one_of(bodies(door), near_valid(door)))
    try:
        facts = chat_facts(door, body)
    except GatewayError:
        return
    assert facts.max_output_tokens is None or 1 <= facts.max_output_tokens <= 10_000_000
    assert 1 <= facts.n <= 128
    assert estimate.estimate_prompt_tokens(door, body) >= 0
    call = call_for(door, Endpoint.CHAT, body, facts)
    for channel in Protocol:  # pass-through for the door's own type, translation to the others
        try:
            plan = exchange.plan(call, channel, upstream_model="upstream-model", default_max_tokens=4096)
        except GatewayError:
            continue
        sent = json.loads(plan.body)
        assert isinstance(sent, dict)
        if channel is not GEMINI:
            assert sent["model"] == "upstream-model"  # the one model routed and billed goes out
        if channel is not door:  # the adapter on its own, as translate exposes it
            translate.chat_request(door, channel, body, upstream_model="m", stream=facts.stream,
                                   default_max_tokens=4096)


@FUZZ
@given(st.one_of(OPENAI_EMBEDDINGS, OBJECTS))
def test_openai_embeddings_to_gemini_raise_only_gateway_errors(body: Any) -> None:
    try:
        facts = openai.request_facts("embeddings", body)
        out = translate.embeddings_request(OPENAI, GEMINI, body, upstream_model="text-embedding-004")
    except GatewayError:
        return
    assert facts.max_output_tokens == 0
    assert translate.gemini_embed_method(out.body) in ("embedContent", "batchEmbedContents")


@FUZZ
@given(st.one_of(GEMINI_EMBED, OBJECTS))
def test_gemini_embeddings_to_openai_raise_only_gateway_errors(body: Any) -> None:
    try:
        gemini.request_facts("embeddings", body, model="text-embedding-004", stream=False)
        translate.embeddings_request(GEMINI, OPENAI, body, upstream_model="text-embedding-3-small")
    except GatewayError:
        return


@FUZZ
@given(st.one_of(GEMINI_COUNT, bodies(ANTHROPIC), OBJECTS), st.sampled_from(["completions", "responses"]))
def test_other_endpoints_facts_raise_only_gateway_errors(body: Any, endpoint: str) -> None:
    for check in (lambda: gemini.request_facts("count_tokens", body, model="gemini-2.5-flash", stream=False),
                  lambda: anthropic.request_facts("count_tokens", body),
                  lambda: openai.request_facts(endpoint, body)):
        with contextlib.suppress(GatewayError):
            check()


@FUZZ
@given(OBJECTS)
def test_target_field_scan_raises_only_gateway_errors(body: dict[str, Any]) -> None:
    try:
        json_body.refuse_target_fields(body)
    except GatewayError as err:
        assert err.param is not None


def plan_everywhere(door: Protocol, body: Any) -> int:
    """Facts, estimate and a plan for every channel type; the number of plans made. Raises what they raise."""
    facts = chat_facts(door, body)
    estimate.estimate_prompt_tokens(door, body)
    call = call_for(door, Endpoint.CHAT, body, facts)
    made = 0
    for channel in Protocol:
        with contextlib.suppress(GatewayError):
            json.loads(exchange.plan(call, channel, upstream_model="m", default_max_tokens=4096).body)
            made += 1
    return made


@pytest.mark.parametrize("door", list(Protocol), ids=lambda d: d.value)
def test_a_rich_body_goes_to_every_channel_type(door: Protocol) -> None:
    assert plan_everywhere(door, RICH[door]) == 3


@pytest.mark.parametrize("door", list(Protocol), ids=lambda d: d.value)
def test_junk_in_any_one_place_of_a_rich_body_is_a_400_or_carried(door: Protocol) -> None:
    # Exhaustive where the fuzzing above is random: every value of a body using every feature the
    # adapters read, replaced in turn by each kind of junk (or removed).
    crashes: dict[str, str] = {}
    for body in one_place_mutations(RICH[door]):
        try:
            plan_everywhere(door, body)
        except GatewayError:
            pass
        except Exception as exc:  # collected, so that one run names every place that crashes
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{'/'.join(frame.filename.split('/')[-2:])}:{frame.lineno} {type(exc).__name__}: {exc}"
            crashes.setdefault(where, json.dumps(body)[:400])
    assert not crashes, "\n".join(f"{where}\n    {body}" for where, body in crashes.items())


@pytest.mark.parametrize("door", [OPENAI, GEMINI], ids=lambda d: d.value)
def test_junk_in_any_one_place_of_an_embeddings_body_is_a_400_or_carried(door: Protocol) -> None:
    crashes: dict[str, str] = {}
    for rich in RICH_EMBEDDINGS[door]:
        for body in [rich, *one_place_mutations(rich)]:
            try:
                if door is OPENAI:
                    facts = openai.request_facts("embeddings", body)
                else:
                    facts = gemini.request_facts("embeddings", body, model="text-embedding-004", stream=False)
                estimate.estimate_prompt_tokens(door, body)
                call = call_for(door, Endpoint.EMBEDDINGS, body, facts)
                for channel in (OPENAI, GEMINI):
                    with contextlib.suppress(GatewayError):
                        exchange.plan(call, channel, upstream_model="m", default_max_tokens=0)
            except GatewayError:
                pass
            except Exception as exc:  # collected, so that one run names every place that crashes
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                where = f"{'/'.join(frame.filename.split('/')[-2:])}:{frame.lineno} {type(exc).__name__}: {exc}"
                crashes.setdefault(where, json.dumps(body)[:400])
    assert not crashes, "\n".join(f"{where}\n    {body}" for where, body in crashes.items())
