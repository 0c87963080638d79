"""Random bodies POSTed to every door of a running gateway (three fake upstreams behind it, so calls are
passed through or translated): never a 500 or an unhandled error, every refusal in the caller's
protocol, and never a hold left open. Bounded: about 200 examples in all."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.protocols import Protocol
from gateway.protocols.sse import Decoder
from tests.hardening.door_env import ANTHROPIC, GEMINI, OPENAI, DoorEnv, auth, doors, error_kind
from tests.hardening.fuzz_bodies import (
    GEMINI_COUNT,
    GEMINI_EMBED,
    OBJECTS,
    OPENAI_EMBEDDINGS,
    bodies,
    near_valid,
)
from tests.hardening.test_fuzz_parsers import RAW
from tests.harness import token

pytestmark = pytest.mark.asyncio(loop_scope="module")
EXAMPLES = 70  # per door
MODELS_IN_URL = ["gemini-2.5-flash", "gpt-4o-mini", "claude-sonnet-4-6", "text-embedding-004", "nope-1"]


class LogTap:
    """The runtime's logger, remembering every event name it was given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.events: list[str] = []

    def __getattr__(self, level: str) -> Any:
        method = getattr(self.inner, level)

        def log(event: str, *args: Any, **fields: Any) -> Any:
            self.events.append(event)
            return method(event, *args, **fields)
        return log


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[DoorEnv, LogTap, ErrorRecords]]:
    errors = ErrorRecords()
    # aiohttp's own error logs (an exception escaping a handler after its reply started). Not asyncio's:
    # a task another test module leaked may be collected, and logged, during this one.
    loggers = [logging.getLogger(name) for name in ("aiohttp.server", "aiohttp.web")]
    for logger in loggers:
        logger.addHandler(errors)
    try:
        async with doors(tmp_path_factory.mktemp("fuzz"), tokens=[token("alice", quota="$1000")]) as door_env:
            tap = LogTap(door_env.gw.runtime.log)
            door_env.gw.runtime.log = tap
            yield door_env, tap, errors
            await door_env.check_books()  # after everything: each hold closed once, the books add up
    finally:
        for logger in loggers:
            logger.removeHandler(errors)


def encoded(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(strategy.map(lambda body: json.dumps(body).encode("utf-8", "surrogatepass")), RAW)


def chat(door: Protocol) -> st.SearchStrategy[bytes]:
    """Mostly valid bodies: they travel through the pipeline to an upstream, passed through or translated."""
    return near_valid(door).map(lambda body: json.dumps(body).encode())


ROUTES: dict[Protocol, st.SearchStrategy[tuple[str, bytes]]] = {
    OPENAI: st.one_of(
        st.tuples(st.just("/v1/chat/completions"), chat(OPENAI)),
        st.tuples(st.just("/v1/embeddings"), encoded(st.one_of(OPENAI_EMBEDDINGS, OBJECTS))),
        st.tuples(st.sampled_from(["/v1/completions", "/v1/responses", "/v1/chat/completions"]),
                  encoded(bodies(OPENAI))),
        st.tuples(st.just("/v1/chat/completions"), chat(OPENAI))),
    ANTHROPIC: st.one_of(
        st.tuples(st.sampled_from(["/claude/v1/messages", "/v1/messages"]), chat(ANTHROPIC)),
        st.tuples(st.sampled_from(["/claude/v1/messages/count_tokens", "/claude/v1/messages"]),
                  encoded(bodies(ANTHROPIC))),
        st.tuples(st.just("/claude/v1/messages"), chat(ANTHROPIC))),
    GEMINI: st.one_of(
        st.tuples(st.builds("/gemini/v1beta/models/{}:{}".format, st.sampled_from(MODELS_IN_URL),
                            st.sampled_from(["generateContent", "streamGenerateContent?alt=sse",
                                             "streamGenerateContent"])), chat(GEMINI)),
        st.tuples(st.builds("/v1beta/models/{}:{}".format, st.sampled_from(MODELS_IN_URL),
                            st.sampled_from(["countTokens", "embedContent", "batchEmbedContents"])),
                  encoded(st.one_of(GEMINI_COUNT, GEMINI_EMBED, bodies(GEMINI)))),
        st.tuples(st.builds("/gemini/v1beta/models/{}:{}".format, st.sampled_from(MODELS_IN_URL[:3]),
                            st.sampled_from(["generateContent", "streamGenerateContent?alt=sse"])), chat(GEMINI))),
}


async def post(env: DoorEnv, door: Protocol, path: str, raw: bytes) -> None:
    headers = {**auth(door), "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(env.url + path, data=raw, headers=headers) as resp:
        payload = await resp.read()
        assert resp.status != 500, payload[:500]
        if resp.status >= 400:  # an error before the first byte: one JSON body in the door's shape
            error_kind(door, json.loads(payload))
        elif resp.content_type == "text/event-stream":  # whole events, each one JSON (or OpenAI's [DONE])
            assert payload.endswith((b"\n\n", b"\r\n\r\n")), payload[-200:]
            decoder = Decoder()
            for event in decoder.feed(payload) + decoder.flush():
                assert event.data == "[DONE]" or isinstance(json.loads(event.data), dict), event
    await env.gw.runtime.idle()
    for name, balance in (await env.gw.runtime.ledger.balances()).items():
        assert balance.held == 0, name


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("door", [OPENAI, ANTHROPIC, GEMINI], ids=lambda d: d.value)
@FUZZ
@given(data=st.data())
async def test_random_bodies_never_get_a_500_or_leave_a_hold(env: tuple[DoorEnv, LogTap, ErrorRecords],
                                                             door: Protocol, data: st.DataObject) -> None:
    door_env, tap, errors = env
    path, raw = data.draw(ROUTES[door])
    await post(door_env, door, path, raw)
    assert "unhandled_error" not in tap.events
    assert not errors.records, [r.getMessage() for r in errors.records]
