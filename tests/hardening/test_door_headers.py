"""Headers, paths and keys at the doors (reliability.md §5.2 #7, #8, #15–#18): hostile caller headers
never reach an upstream, upstream identity headers never reach a caller, unknown paths are never
proxied, keys are read only where each protocol puts them, and the IP allowlist uses the socket peer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.protocols import Protocol
from tests.hardening.door_env import (
    ANTHROPIC,
    BOB,
    DOORS,
    FAR,
    GEMINI,
    NEAR,
    OFF,
    OLD,
    OPENAI,
    PATHS,
    UPSTREAM_KEYS,
    DoorEnv,
    auth,
    chat_body,
    doors,
    error_kind,
    http_request,
    raw_http,
)
from tests.harness import CALLER_KEY

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DoorEnv]:
    async with doors(tmp_path_factory.mktemp("headers")) as door_env:
        yield door_env


door_ids = pytest.mark.parametrize("door", DOORS, ids=lambda d: d.value)

HOSTILE = {
    "Host": "evil.example",
    "Connection": "X-Secret, keep-alive",
    "X-Secret": "caller-secret-in-a-hop-by-hop-header",
    "Keep-Alive": "timeout=600",
    "TE": "trailers",
    "Upgrade": "h2c",
    "Trailer": "X-Late",
    "Proxy-Authorization": "Basic Y2FsbGVyOnByb3h5",
    "Proxy-Connection": "keep-alive",
    "Cookie": "session=caller-cookie",
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Host": "evil.example",
    "Forwarded": "for=6.6.6.6;host=evil.example",
    "X-Real-IP": "6.6.6.6",
    "OpenAI-Organization": "org-caller",
    "OpenAI-Project": "proj-caller",
    "anthropic-version": "2020-01-01",
    "User-Agent": "caller-agent/1.0",
    "Accept-Encoding": "br",
    "X-Api-Key-Leak": CALLER_KEY,
}
# What each channel type's upstream may receive, and nothing else (credential included).
CREDENTIAL = {OPENAI: "authorization", ANTHROPIC: "x-api-key", GEMINI: "x-goog-api-key"}
SENT = {"host", "content-type", "content-length", "accept", "accept-encoding", "user-agent"}


@door_ids
async def test_hostile_caller_headers_never_reach_the_upstream(env: DoorEnv, door: Protocol) -> None:
    headers = {**HOSTILE, **auth(door), "Content-Type": "application/json"}
    if door is ANTHROPIC:
        headers["anthropic-version"] = "2020-01-01"  # the channel decides the version it speaks
    # the caller's key in every credential header a door could read, on top of its own
    headers.update({"x-api-key": CALLER_KEY, "x-goog-api-key": CALLER_KEY} if door is OPENAI else
                   {"Authorization": f"Bearer {CALLER_KEY}"})
    snap = env.snapshot()
    reply = await raw_http(env.url, http_request(PATHS[door], headers, json.dumps(chat_body(door)).encode()))
    assert reply.status == 200, reply.body
    [seen] = env.sent_since(snap, door)
    names = {name.lower() for name in seen.headers}
    expected = SENT | {CREDENTIAL[door]} | ({"anthropic-version"} if door is ANTHROPIC else set())
    assert names == expected, names ^ expected
    fake_url = env.fakes[door].url.removeprefix("http://")
    assert seen.headers["Host"] == fake_url
    assert seen.headers["User-Agent"].startswith("gateway/")
    assert seen.headers["Accept-Encoding"] != "br"
    credential = seen.headers[CREDENTIAL[door]]
    assert credential.removeprefix("Bearer ") == UPSTREAM_KEYS[door]
    if door is ANTHROPIC:
        assert seen.headers["anthropic-version"] == "2023-06-01"
    assert CALLER_KEY not in repr(dict(seen.headers))
    assert (await env.row(reply.headers["x-request-id"])).outcome == "ok"


async def test_anthropic_beta_is_the_only_caller_header_an_anthropic_channel_gets(env: DoorEnv) -> None:
    headers = {**auth(ANTHROPIC), "anthropic-beta": "prompt-caching-2024-07-31", "X-Custom": "1"}
    snap = env.snapshot()
    reply = await env.post(PATHS[ANTHROPIC], chat_body(ANTHROPIC), headers)
    assert reply.status == 200
    [seen] = env.sent_since(snap, ANTHROPIC)
    assert seen.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "X-Custom" not in seen.headers


@door_ids
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_upstream_identity_headers_and_cookies_never_reach_the_caller(env: DoorEnv, door: Protocol,
                                                                           stream: bool) -> None:
    # #8: the upstream compresses its reply, sets cookies and names its organisation.
    fake, snap = env.fakes[door], env.snapshot()
    fake.script.reply(gzip=True, set_cookie="upstream_session=s3cr3t; Path=/",
                      headers={"openai-organization": "org-upstream", "anthropic-organization-id": "org-up",
                               "x-upstream-internal": "node-7"})
    path, body = PATHS[door], chat_body(door)
    if stream and door is GEMINI:
        path = path.replace(":generateContent", ":streamGenerateContent?alt=sse")
    elif stream:
        body["stream"] = True
    reply = await env.post(path, body, auth(door))  # the caller's client does not decompress
    assert reply.status == 200
    lowered = {name.lower(): value for name, value in reply.headers.items()}
    for name in ("set-cookie", "content-encoding", "openai-organization", "openai-project",
                 "anthropic-organization-id", "x-upstream-internal", "cf-ray", "server-timing"):
        assert name not in lowered, name
    if "content-length" in lowered:
        assert int(lowered["content-length"]) == len(reply.body)
    if stream:
        assert b"data:" in reply.body
    else:
        json.loads(reply.body)  # plain JSON, not gzip bytes
    # a later call sends no cookie upstream: the gateway keeps no cookie jar
    await env.post(PATHS[door], chat_body(door), auth(door))
    sent = env.sent_since(snap, door)
    assert len(sent) == 2 and all("Cookie" not in seen.headers for seen in sent)
    await env.check_books()


@pytest.mark.parametrize(("method", "path", "door"), [
    ("POST", "/v1/files", OPENAI),
    ("GET", "/v1/files/file-abc/content", OPENAI),
    ("POST", "/v1/batches", OPENAI),
    ("GET", "/v1/organization/users", OPENAI),
    ("POST", "/v1/fine_tuning/jobs", OPENAI),
    ("POST", "/v1/images/generations", OPENAI),
    ("POST", "/v1/chat/completions/../../v1/files", OPENAI),
    ("POST", "/v1/chat/completions%2F..%2F..%2Fv1%2Ffiles", OPENAI),
    ("POST", "/claude/v1/foo", ANTHROPIC),
    ("POST", "/claude/v1/messages/batches", ANTHROPIC),
    ("GET", "/claude/v1/files", ANTHROPIC),
    ("POST", "/v1/messages/batches", ANTHROPIC),
    ("POST", "/gemini/v1beta/files", GEMINI),
    ("POST", "/gemini/v1beta/cachedContents", GEMINI),
    ("POST", "/v1beta/tunedModels", GEMINI),
    ("POST", "/gemini/v1beta/models/gemini-2.5-flash/operations", GEMINI),
])
async def test_unknown_paths_are_404_in_shape_and_never_proxied(env: DoorEnv, method: str, path: str,
                                                                door: Protocol) -> None:
    snap = env.snapshot()
    reply = await env.post(path, chat_body(door), auth(door), method=method)
    assert reply.status == 404
    assert error_kind(door, reply.json()) in ("invalid_request_error", "not_found_error", "NOT_FOUND")
    await env.untouched(snap)


@door_ids
async def test_wrong_method_on_a_door_is_refused_in_shape(env: DoorEnv, door: Protocol) -> None:
    snap = env.snapshot()
    reply = await env.post(PATHS[door], None, auth(door), method="GET")
    assert reply.status in (400, 404, 405)  # Gemini: GET .../models/{name} reads "x:generateContent" as a name
    error_kind(door, reply.json())
    await env.untouched(snap)


UNAUTHENTICATED = {OPENAI: "invalid_request_error", ANTHROPIC: "authentication_error", GEMINI: "UNAUTHENTICATED"}
WRONG_PLACES: dict[Protocol, list[tuple[dict[str, str], str]]] = {
    OPENAI: [({"x-api-key": CALLER_KEY}, ""), ({"x-goog-api-key": CALLER_KEY}, ""), ({}, f"?key={CALLER_KEY}"),
             ({"Authorization": CALLER_KEY}, ""), ({"Authorization": f"Basic {CALLER_KEY}"}, ""),
             ({"Authorization": "Bearer "}, ""), ({"Cookie": f"key={CALLER_KEY}"}, "")],
    ANTHROPIC: [({"x-goog-api-key": CALLER_KEY}, ""), ({}, f"?key={CALLER_KEY}"),
                ({"api-key": CALLER_KEY}, ""), ({"x-api-key": ""}, "")],
    GEMINI: [({"x-api-key": CALLER_KEY}, ""), ({"api-key": CALLER_KEY}, ""), ({}, f"?api_key={CALLER_KEY}"),
             ({}, "?key=")],
}
CASES = [(door, headers, query) for door, places in WRONG_PLACES.items() for headers, query in places]


@pytest.mark.parametrize(("door", "headers", "query"), CASES)
async def test_key_in_the_wrong_place_is_401_and_writes_nothing(env: DoorEnv, door: Protocol,
                                                                headers: dict[str, str], query: str) -> None:
    snap = env.snapshot()
    reply = await env.post(PATHS[door] + query, chat_body(door), headers)
    assert_unauthenticated(door, reply.status, reply.json())
    await env.untouched(snap)


@door_ids
@pytest.mark.parametrize("key", [None, "sk-nobody-at-all", OFF, OLD, f"{OFF}#oa", CALLER_KEY[:-1]])
async def test_missing_unknown_disabled_or_expired_key_is_401(env: DoorEnv, door: Protocol,
                                                              key: str | None) -> None:
    headers = auth(door, key) if key is not None else {}
    snap = env.snapshot()
    reply = await env.post(PATHS[door], chat_body(door), headers)
    assert_unauthenticated(door, reply.status, reply.json())
    await env.untouched(snap)


def assert_unauthenticated(door: Protocol, status: int, body: object) -> None:
    assert status == 401
    assert error_kind(door, body) == UNAUTHENTICATED[door]
    if door is OPENAI:
        assert body["error"]["code"] == "invalid_api_key"  # type: ignore[index]
    assert CALLER_KEY not in json.dumps(body)


@door_ids
async def test_model_outside_the_token_allowlist_is_403_with_a_row(env: DoorEnv, door: Protocol) -> None:
    snap = env.snapshot()
    reply = await env.post(PATHS[door], chat_body(door), auth(door, BOB))
    assert error_kind(door, reply.json()) in ("permission_error", "PERMISSION_DENIED")
    row = await env.refused(snap, reply, 403)
    assert (row.token, row.model) == ("bob", "gemini-2.5-flash" if door is GEMINI else chat_body(door)["model"])


NOT_FOUND = {OPENAI: "invalid_request_error", ANTHROPIC: "not_found_error", GEMINI: "NOT_FOUND"}


@door_ids
async def test_unknown_model_is_404_with_a_row(env: DoorEnv, door: Protocol) -> None:
    path = PATHS[door].replace("gemini-2.5-flash", "llama-9-unknown")
    snap = env.snapshot()
    reply = await env.post(path, chat_body(door, model="llama-9-unknown"), auth(door))
    assert error_kind(door, reply.json()) == NOT_FOUND[door]
    if door is OPENAI:
        assert reply.json()["error"]["code"] == "model_not_found"
    row = await env.refused(snap, reply, 404)
    assert row.model == "llama-9-unknown"


SPOOFS = {"X-Forwarded-For": "10.1.2.3", "Forwarded": "for=10.1.2.3", "X-Real-IP": "10.1.2.3",
          "X-Client-IP": "10.1.2.3", "True-Client-IP": "10.1.2.3"}


@door_ids
async def test_ip_allowlist_uses_the_socket_peer_and_ignores_forwarded_headers(env: DoorEnv,
                                                                                door: Protocol) -> None:
    # FAR may call from 10.0.0.0/8 only; the test connects from 127.0.0.1 and claims 10.1.2.3.
    snap = env.snapshot()
    reply = await env.post(PATHS[door], chat_body(door), {**auth(door, FAR), **SPOOFS})
    assert reply.status == 403
    assert error_kind(door, reply.json()) in ("permission_error", "PERMISSION_DENIED")
    assert "IP" in json.dumps(reply.json())
    await env.untouched(snap)  # refused with the key check: nothing written
    # NEAR may call from 127.0.0.1 only, and claiming to be elsewhere changes nothing.
    spoofed_away = {name: "8.8.8.8" for name in SPOOFS}
    reply = await env.post(PATHS[door], chat_body(door), {**auth(door, NEAR), **spoofed_away})
    assert reply.status == 200
    row = await env.row(reply.headers["x-request-id"])
    assert (row.token, row.client_ip, row.outcome) == ("near", "127.0.0.1", "ok")
