"""Per-protocol request facts: what is read for routing and the hold, and what is refused as a 400."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.protocols import anthropic, gemini, openai
from gateway.protocols.errors import GatewayError
from gateway.protocols.facts import RequestFacts

MESSAGES = [{"role": "user", "content": "Hello"}]
CONTENTS = [{"role": "user", "parts": [{"text": "Hello"}]}]


def test_openai_facts() -> None:
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}, "max_completion_tokens": 300, "n": 2}
    assert openai.chat_request_facts(body) == RequestFacts("gpt-4o-mini", True, 300, n=2, wants_usage=True)
    minimal = openai.chat_request_facts({"model": "gpt-4o", "messages": MESSAGES})
    assert minimal == RequestFacts("gpt-4o", False, None, n=1, wants_usage=True)
    streamed = openai.chat_request_facts({"model": "gpt-4o", "messages": MESSAGES, "stream": True,
                                          "max_tokens": 50, "stream_options": None, "n": None})
    assert streamed == RequestFacts("gpt-4o", True, 50, n=1, wants_usage=False)


def test_openai_holds_the_larger_of_both_limits() -> None:
    body = {"model": "o3", "messages": MESSAGES, "max_tokens": 100, "max_completion_tokens": 4000}
    assert openai.chat_request_facts(body).max_output_tokens == 4000


def test_anthropic_facts() -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": MESSAGES, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 800}}
    assert anthropic.chat_request_facts(body) == RequestFacts("claude-sonnet-4-5", True, 1024)
    no_limit = anthropic.chat_request_facts({"model": "claude-haiku-4-5", "messages": MESSAGES})
    assert no_limit.max_output_tokens is None and not no_limit.stream


def test_gemini_facts_take_model_and_stream_from_the_url() -> None:
    body = {"contents": CONTENTS, "generationConfig": {"maxOutputTokens": 256, "candidateCount": 2}}
    assert gemini.chat_request_facts(body, model="gemini-2.5-flash", stream=True) == RequestFacts(
        "gemini-2.5-flash", True, 256, n=2)
    snake = {"contents": CONTENTS, "generation_config": {"max_output_tokens": 64}}
    assert gemini.chat_request_facts(snake, model="m", stream=False).max_output_tokens == 64
    assert gemini.chat_request_facts({"contents": CONTENTS}, model="m", stream=False) == RequestFacts(
        "m", False, None)


def _refused(call: Any, body: object, param: str | None, **kwargs: Any) -> None:
    with pytest.raises(GatewayError) as caught:
        call(body, **kwargs)
    assert caught.value.kind == "invalid_request"
    assert caught.value.http_status == 400
    assert caught.value.param == param


@pytest.mark.parametrize(("body", "param"), [
    ([{"model": "x"}], None),
    ("text", None),
    ({"messages": MESSAGES}, "model"),
    ({"model": 5, "messages": MESSAGES}, "model"),
    ({"model": " ", "messages": MESSAGES}, "model"),
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": {"role": "user"}}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": MESSAGES, "stream": "true"}, "stream"),
    ({"model": "m", "messages": MESSAGES, "max_tokens": "100"}, "max_tokens"),
    ({"model": "m", "messages": MESSAGES, "max_tokens": 100.5}, "max_tokens"),
    ({"model": "m", "messages": MESSAGES, "max_tokens": True}, "max_tokens"),
    ({"model": "m", "messages": MESSAGES, "max_tokens": -1}, "max_tokens"),
    ({"model": "m", "messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
    ({"model": "m", "messages": MESSAGES, "max_completion_tokens": 10**12}, "max_completion_tokens"),
    ({"model": "m", "messages": MESSAGES, "max_completion_tokens": 10_000_001}, "max_completion_tokens"),
    ({"model": "m", "messages": MESSAGES, "n": 1000}, "n"),
    ({"model": "m", "messages": MESSAGES, "n": 0}, "n"),
    ({"model": "m", "messages": MESSAGES, "stream_options": "usage"}, "stream_options"),
    ({"model": "m", "messages": MESSAGES, "stream_options": {"include_usage": 1}},
     "stream_options.include_usage"),
])
def test_openai_refuses(body: object, param: str | None) -> None:
    _refused(openai.chat_request_facts, body, param)


def test_openai_accepts_the_limits_themselves() -> None:
    body = {"model": "m", "messages": MESSAGES, "max_tokens": 10_000_000, "n": 128}
    assert openai.chat_request_facts(body).n == 128


@pytest.mark.parametrize(("body", "param"), [
    (None, None),
    ({"max_tokens": 10, "messages": MESSAGES}, "model"),
    ({"model": "m", "max_tokens": 10, "messages": "hi"}, "messages"),
    ({"model": "m", "max_tokens": "10", "messages": MESSAGES}, "max_tokens"),
    ({"model": "m", "max_tokens": 20_000_000, "messages": MESSAGES}, "max_tokens"),
    ({"model": "m", "max_tokens": 10, "messages": MESSAGES, "stream": 1}, "stream"),
])
def test_anthropic_refuses(body: object, param: str | None) -> None:
    _refused(anthropic.chat_request_facts, body, param)


@pytest.mark.parametrize(("body", "param"), [
    ([], None),
    ({}, "contents"),
    ({"contents": "Hello"}, "contents"),
    ({"contents": CONTENTS, "generationConfig": []}, "generationConfig"),
    ({"contents": CONTENTS, "generationConfig": {"maxOutputTokens": -5}}, "generationConfig.maxOutputTokens"),
    ({"contents": CONTENTS, "generationConfig": {"maxOutputTokens": "5"}},
     "generationConfig.maxOutputTokens"),
    ({"contents": CONTENTS, "generationConfig": {"candidateCount": 500}}, "generationConfig.candidateCount"),
])
def test_gemini_refuses(body: object, param: str | None) -> None:
    _refused(gemini.chat_request_facts, body, param, model="gemini-2.5-flash", stream=False)


def test_gemini_refuses_an_empty_model() -> None:
    _refused(gemini.chat_request_facts, {"contents": CONTENTS}, "model", model="", stream=False)


def test_with_stream_usage_asks_for_usage_without_touching_the_callers_body() -> None:
    body = {"model": "m", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_obfuscation": False}}
    sent = openai.with_stream_usage(body)
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert body["stream_options"] == {"include_obfuscation": False}
    plain = {"model": "m", "messages": MESSAGES}
    assert openai.with_stream_usage(plain) == plain
    assert "stream_options" not in openai.with_stream_usage({**plain, "stream": False})


def test_openai_other_endpoints() -> None:
    assert openai.request_facts("chat", {"model": "m", "messages": MESSAGES}).model == "m"
    embeddings = openai.request_facts("embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]})
    assert embeddings == RequestFacts("text-embedding-3-small", False, 0)
    completions = openai.request_facts("completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say",
                                                       "max_tokens": 7, "n": 2, "best_of": 3, "stream": True})
    assert completions == RequestFacts("gpt-3.5-turbo-instruct", True, 7, n=3, wants_usage=False)
    responses = openai.request_facts("responses", {"model": "o4-mini", "input": "Hi", "stream": True,
                                                   "max_output_tokens": 500})
    assert responses == RequestFacts("o4-mini", True, 500)
    assert openai.request_facts("responses", {"model": "o4-mini", "previous_response_id": "resp_1"}).model


@pytest.mark.parametrize(("endpoint", "body", "param"), [
    ("embeddings", {"model": "e", "input": ""}, "input"),
    ("embeddings", {"model": "e"}, "input"),
    ("embeddings", {"input": "x"}, "model"),
    ("completions", {"model": "m", "prompt": 5}, "prompt"),
    ("completions", {"model": "m", "prompt": "x", "best_of": 500}, "best_of"),
    ("responses", {"model": "m", "input": {"role": "user"}}, "input"),
    ("responses", {"model": "m", "input": "x", "max_output_tokens": -3}, "max_output_tokens"),
])
def test_openai_other_endpoints_refuse(endpoint: str, body: object, param: str) -> None:
    _refused(lambda b: openai.request_facts(endpoint, b), body, param)


def test_anthropic_and_gemini_other_endpoints() -> None:
    counted = anthropic.request_facts("count_tokens", {"model": "claude-sonnet-4-5", "messages": MESSAGES})
    assert counted == RequestFacts("claude-sonnet-4-5", False, 0)
    _refused(lambda b: anthropic.request_facts("count_tokens", b), {"model": "m"}, "messages")
    embed = gemini.request_facts("embeddings", {"content": {"parts": [{"text": "hi"}]}},
                                 model="gemini-embedding-001", stream=False)
    assert embed == RequestFacts("gemini-embedding-001", False, 0)
    batch = {"requests": [{"model": "models/e", "content": {"parts": [{"text": "hi"}]}}]}
    assert gemini.request_facts("embeddings", batch, model="e", stream=False).max_output_tokens == 0
    _refused(lambda b: gemini.request_facts("embeddings", b, model="e", stream=False), {"requests": []},
             "requests")
    assert gemini.request_facts("count_tokens", {"contents": CONTENTS}, model="g", stream=False).model == "g"
    with pytest.raises(ValueError):
        anthropic.request_facts("embeddings", {})
