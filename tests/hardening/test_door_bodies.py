"""Request bodies at the doors (reliability.md §5.2 #9–#14): malformed or hostile JSON, duplicate keys,
absurd limits, fields that would pick an upstream, and Gemini model names with path tricks. Every
refusal is a 400 in the caller's protocol with no traceback, nothing reaches an upstream, no hold is
taken, and (the caller being authenticated) exactly one ledger row records it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from gateway.protocols import Protocol
from tests.hardening.door_env import (
    ANTHROPIC,
    DOORS,
    GEMINI,
    MODELS,
    OPENAI,
    PATHS,
    DoorEnv,
    auth,
    chat_body,
    doors,
    error_kind,
    http_request,
    raw_http,
)

door_ids = pytest.mark.parametrize("door", DOORS, ids=lambda d: d.value)
INVALID = {OPENAI: "invalid_request_error", ANTHROPIC: "invalid_request_error", GEMINI: "INVALID_ARGUMENT"}


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DoorEnv]:
    async with doors(tmp_path_factory.mktemp("bodies")) as door_env:
        yield door_env


async def refused(env: DoorEnv, door: Protocol, raw: bytes, *, path: str | None = None,
                  headers: dict[str, str] | None = None, fragment: str = "") -> dict[str, Any]:
    """Post `raw`; assert a 400 in the door's shape, nothing upstream, one refusal row, no hold."""
    sent = {**auth(door), "Content-Type": "application/json", **(headers or {})}
    snap = env.snapshot()
    reply = await env.post(path or PATHS[door], raw, sent)
    await env.refused(snap, reply, 400)
    body = reply.json()
    assert error_kind(door, body) == INVALID[door]
    assert fragment in json.dumps(body), body
    return dict(body)


def with_field(door: Protocol, **fields: Any) -> bytes:
    return json.dumps({**chat_body(door), **fields}).encode()


@door_ids
@pytest.mark.parametrize(("raw", "fragment"), [
    (b"{not json", "not valid JSON"),
    (b'{"model": "x", "messages": [}', "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'"a string"', "JSON object"),
    (b"null", "JSON object"),
    (b"", "empty"),
    (b"   \r\n ", "empty"),
    (b'{"model": "\xff\xfe"}', "UTF-8"),
    (b'\xef\xbb\xbf{"model": "x"}', "not valid JSON"),  # a BOM is not JSON text
    ('{"model": "x"}'.encode("utf-16"), "UTF-8"),
])
async def test_malformed_bodies_are_400(env: DoorEnv, door: Protocol, raw: bytes, fragment: str) -> None:
    await refused(env, door, raw, fragment=fragment)


@door_ids
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/xml", "application/octet-stream"])
async def test_non_json_content_types_are_400(env: DoorEnv, door: Protocol, content_type: str) -> None:
    raw = json.dumps(chat_body(door)).encode()
    await refused(env, door, raw, headers={"Content-Type": content_type}, fragment="Content-Type")


@door_ids
@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8", "text/plain;charset=UTF-8",
                                          "application/vnd.api+json"])
async def test_json_labelled_bodies_are_served(env: DoorEnv, door: Protocol, content_type: str | None) -> None:
    headers = auth(door) if content_type is None else {**auth(door), "Content-Type": content_type}
    reply = await raw_http(env.url, http_request(PATHS[door], headers, json.dumps(chat_body(door)).encode()))
    assert reply.status == 200, reply.body
    assert (await env.row(reply.headers["x-request-id"])).outcome == "ok"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@door_ids
@pytest.mark.parametrize(("extra", "fragment"), [
    (f'"metadata": {{"deep": {nested(100_000)}}}', "nested too deeply"),
    (f'"metadata": {{"deep": {nested(600_000)}}}', "nested too deeply"),  # > 1 MiB: parsed in a thread
    ('"seed": 1' + "0" * 5000, "not valid JSON"),  # past Python's int conversion limit
    ('"temperature": NaN', "NaN"),
    ('"temperature": Infinity', "Infinity"),
    ('"temperature": -Infinity', "-Infinity"),
    ('"temperature": 1e999', "out of range"),
    ('"user": "\\ud800"', "surrogate"),
    ('"user": "x\\udc00y"', "surrogate"),
    ('"user": "\\ude00\\ud83d"', "surrogate"),  # a pair in the wrong order is two lone halves
    ('"\\ud800": 1', "surrogate"),
])
async def test_hostile_json_values_are_400_without_a_traceback(env: DoorEnv, door: Protocol, extra: str,
                                                                fragment: str) -> None:
    raw = json.dumps(chat_body(door))[:-1] + ", " + extra + "}"
    await refused(env, door, raw.encode(), fragment=fragment)


@door_ids
async def test_raw_surrogate_bytes_are_400(env: DoorEnv, door: Protocol) -> None:
    raw = json.dumps(chat_body(door))[:-1].encode() + b', "user": "\xed\xa0\x80"}'  # CESU-style half
    await refused(env, door, raw, fragment="UTF-8")


@door_ids
async def test_an_escaped_surrogate_pair_and_deep_but_sane_nesting_are_fine(env: DoorEnv, door: Protocol) -> None:
    body = chat_body(door, text="smile \\ud83d\\ude00")
    raw = json.dumps(body).replace("\\\\ud83d\\\\ude00", "\\ud83d\\ude00")
    snap = env.snapshot()
    reply = await env.post(PATHS[door], raw.encode(), auth(door))
    assert reply.status == 200
    [seen] = env.sent_since(snap, door)
    text = json.dumps(seen.json, ensure_ascii=False)
    assert "😀" in text
    await env.check_books()


DUPLICATES: dict[Protocol, list[str]] = {
    OPENAI: ['{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"model":"gpt-4o"}',
             '{"model":"gpt-4o","mod\\u0065l":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}',
             '{"model":"gpt-4o-mini","max_tokens":1,"messages":[{"role":"user","content":"hi"}],"max_tokens":9}',
             '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi","role":"system"}]}'],
    ANTHROPIC: ['{"model":"claude-haiku-4-5-20251001","max_tokens":5,"messages":[{"role":"user","content":"hi"}],'
                '"model":"claude-opus-4-7"}',
                '{"model":"claude-sonnet-4-6","max_tokens":5,"stream":false,"messages":[{"role":"user",'
                '"content":"hi"}],"stream":true}'],
    GEMINI: ['{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":1,'
             '"maxOutputTokens":100000}}',
             '{"contents":[{"role":"user","parts":[{"text":"a"}]}],"contents":[{"role":"user","parts":[]}]}'],
}


@pytest.mark.parametrize(("door", "raw"), [(d, r) for d, raws in DUPLICATES.items() for r in raws])
async def test_duplicate_keys_are_refused_so_no_parser_can_disagree(env: DoorEnv, door: Protocol, raw: str) -> None:
    # Python keeps the last of two equal keys, other parsers the first: the model (or limit) the
    # gateway authorises and bills could differ from the one the upstream serves. Refuse them.
    await refused(env, door, raw.encode(), fragment="duplicate key")


@door_ids
async def test_one_model_is_authorised_billed_and_forwarded(env: DoorEnv, door: Protocol) -> None:
    snap = env.snapshot()
    reply = await env.post(PATHS[door], chat_body(door), auth(door))
    assert reply.status == 200
    [seen] = env.sent_since(snap, door)
    row = await env.row(reply.headers["x-request-id"])
    if door is GEMINI:
        assert seen.path.endswith(f"/models/{MODELS[GEMINI]}:generateContent")
    else:
        assert seen.body.count(b'"model"') == 1 and seen.json["model"] == MODELS[door]
    assert row.model == row.upstream_model == MODELS[door]


async def test_gemini_inner_model_names_follow_the_url(env: DoorEnv) -> None:
    # batchEmbedContents names a model per request; the URL's model is the one authorised and billed,
    # so an inner name pointing elsewhere is rewritten to it before the body goes out.
    body = {"requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
                         {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}}]}
    path = "/gemini/v1beta/models/text-embedding-004:batchEmbedContents"
    snap = env.snapshot()
    reply = await env.post(path, body, auth(GEMINI))
    assert reply.status == 200, reply.body
    [seen] = env.sent_since(snap, GEMINI)
    assert "text-embedding-004:batchEmbedContents" in seen.path
    assert [r["model"] for r in seen.json["requests"]] == ["models/text-embedding-004"] * 2
    row = await env.row(reply.headers["x-request-id"])
    assert row.model == "text-embedding-004"


async def test_gemini_camel_and_snake_names_of_one_field_are_refused(env: DoorEnv) -> None:
    raw = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                      "generationConfig": {"maxOutputTokens": 1, "max_output_tokens": 100_000}}).encode()
    await refused(env, GEMINI, raw, fragment="same field")


LIMITS: dict[Protocol, list[dict[str, Any]]] = {
    OPENAI: [{"max_tokens": 0}, {"max_tokens": -1}, {"max_tokens": 1e12}, {"max_tokens": 10**12},
             {"max_tokens": "100"}, {"max_tokens": True}, {"max_tokens": 1.5}, {"max_completion_tokens": -5},
             {"n": 1000}, {"n": 0}, {"n": -1}, {"messages": None}, {"messages": []}, {"messages": "hi"},
             {"model": ""}, {"model": 7}, {"model": "gpt-4o-mini\n"}, {"model": "g" * 300},
             {"stream": "yes"}, {"stream_options": "x"}],
    ANTHROPIC: [{"max_tokens": 0}, {"max_tokens": -100}, {"max_tokens": 10**12}, {"max_tokens": 2**64},
                {"messages": None}, {"messages": {}}, {"model": None}],
    GEMINI: [{"generationConfig": {"maxOutputTokens": 0}}, {"generationConfig": {"maxOutputTokens": 10**12}},
             {"generationConfig": {"candidateCount": 1000}}, {"generationConfig": {"candidateCount": -1}},
             {"generationConfig": "x"}, {"contents": None}, {"contents": []}],
}


@pytest.mark.parametrize(("door", "fields"), [(d, f) for d, cases in LIMITS.items() for f in cases],
                         ids=lambda v: v.value if isinstance(v, Protocol) else json.dumps(v)[:40])
async def test_absurd_limits_and_missing_parts_are_400_before_any_hold(env: DoorEnv, door: Protocol,
                                                                        fields: dict[str, Any]) -> None:
    await refused(env, door, with_field(door, **fields))


@door_ids
async def test_the_largest_allowed_limits_are_refused_for_quota_not_overflow(env: DoorEnv, door: Protocol) -> None:
    # 10M output tokens × 128 choices is a valid request no $10 key can hold: a 429, never an overflow.
    fields: dict[str, Any] = ({"max_tokens": 10_000_000, "n": 128} if door is OPENAI else
                              {"max_tokens": 10_000_000} if door is ANTHROPIC else
                              {"generationConfig": {"maxOutputTokens": 10_000_000, "candidateCount": 128}})
    snap = env.snapshot()
    reply = await env.post(PATHS[door], with_field(door, **fields), auth(door))
    assert error_kind(door, reply.json()) in ("insufficient_quota", "rate_limit_error", "RESOURCE_EXHAUSTED")
    await env.refused(snap, reply, 429)


TARGETS: dict[Protocol, list[dict[str, Any]]] = {
    OPENAI: [{"api_base": "http://169.254.169.254/"}, {"base_url": "http://attacker.example"},
             {"api_key": "sk-attacker"}, {"extra_body": {"api_base": "http://attacker.example"}},
             {"litellm_params": {"apiBase": "http://x"}}, {"stream_options": {"api-key": "x"}},
             {"API_BASE": "http://x"}, {"extra_body": [{"endpoint": "http://x"}]}],
    ANTHROPIC: [{"base_url": "http://attacker.example"}, {"thinking": {"type": "disabled", "proxy": "http://x"}},
                {"azure_endpoint": "http://x"}],
    GEMINI: [{"baseUrl": "http://attacker.example"}, {"generationConfig": {"apiKey": "AIza-attacker"}},
             {"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}, "endpointUrl": "http://x"}}],
}


@pytest.mark.parametrize(("door", "fields"), [(d, f) for d, cases in TARGETS.items() for f in cases],
                         ids=lambda v: v.value if isinstance(v, Protocol) else json.dumps(v)[:40])
async def test_fields_that_pick_an_upstream_or_key_are_refused(env: DoorEnv, door: Protocol,
                                                               fields: dict[str, Any]) -> None:
    await refused(env, door, with_field(door, **fields), fragment="is not accepted")


async def test_the_same_names_inside_content_and_schemas_are_the_callers_data(env: DoorEnv) -> None:
    # A tool may well take a `base_url` argument; content and schemas are never scanned.
    body = chat_body(OPENAI)
    body["tools"] = [{"type": "function", "function": {"name": "fetch", "parameters": {
        "type": "object", "properties": {"base_url": {"type": "string"}, "api_key": {"type": "string"}}}}}]
    body["messages"] = [
        {"role": "user", "content": "fetch it"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "fetch", "arguments": json.dumps({"base_url": "https://example.com"})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"}]
    body["metadata"] = {"endpoint": "checkout"}
    reply = await env.post(PATHS[OPENAI], body, auth(OPENAI))
    assert reply.status == 200, reply.body
    assert (await env.row(reply.headers["x-request-id"])).outcome == "ok"


@pytest.mark.parametrize("target", [
    "..%2Ffiles:generateContent", "%2E%2E%2Ffiles:generateContent", "x:y:generateContent",
    "gemini-2.5-flash%3Fkey%3Dstolen:generateContent", "gemini-2.5-flash%23x:generateContent",
    "gemini%2F..%2F..%2Fcachedcontents:generateContent", "gemini-2.5-flash%20:generateContent",
    "-gemini:generateContent", "g%C3%A9mini:generateContent", "gemini%252F..:generateContent",
    "a/b:generateContent", "gemini-2.5-flash?key=stolen:generateContent", "..:generateContent",
    "gemini-2.5-flash:generateContent%2F..%2F..%2Ffiles", "gemini-2.5-flash",
])
async def test_gemini_model_names_with_path_tricks_never_reach_a_url(env: DoorEnv, target: str) -> None:
    path = f"/gemini/v1beta/models/{target}"
    snap = env.snapshot()
    reply = await env.post(path, chat_body(GEMINI), auth(GEMINI))
    assert reply.status in (400, 404), reply.body
    assert error_kind(GEMINI, reply.json()) in ("INVALID_ARGUMENT", "NOT_FOUND")
    if reply.status == 400:  # the key passed first: the refusal is on the books
        await env.refused(snap, reply, 400)
    else:
        await env.untouched(snap)


@pytest.mark.parametrize("model", ["gemini-x/../../../v1beta/files", "gemini-2.5-flash?key=stolen",
                                   "gemini-2.5-flash#frag", "gemini-..", "gemini-a%2F..%2Fb"])
async def test_body_model_names_reaching_a_gemini_channel_stay_one_path_segment(env: DoorEnv, model: str) -> None:
    # An OpenAI caller names a model the gemini channel's glob serves: the name goes into the upstream
    # URL quoted as one segment, so whatever the fake answers, no other upstream path is reached.
    snap = env.snapshot()
    reply = await env.post(PATHS[OPENAI], chat_body(OPENAI, model=model), auth(OPENAI))
    assert reply.status != 500
    for seen in env.sent_since(snap, GEMINI):
        assert seen.path.startswith("/v1beta/models/") and seen.path.endswith(":generateContent"), seen.path
        assert seen.query == {}
    await env.check_books()
