"""Upstream URLs and headers per channel type: keys only ever in headers, never caller headers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from gateway.endpoints import upstream_headers, upstream_url

from .builders import make_channel


@pytest.mark.parametrize(("type_", "base", "endpoint", "kwargs", "url"), [
    ("openai", "https://api.openai.com", "chat", {}, "https://api.openai.com/v1/chat/completions"),
    ("openai", "https://api.openai.com/v1", "chat", {}, "https://api.openai.com/v1/chat/completions"),
    ("openai", "https://api.groq.com/openai/v1", "embeddings", {},
     "https://api.groq.com/openai/v1/embeddings"),
    ("openai", "https://generativelanguage.googleapis.com/v1beta/openai", "chat", {},
     "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"),
    ("openai", "https://open.bigmodel.cn/api/paas/v4", "chat", {},
     "https://open.bigmodel.cn/api/paas/v4/chat/completions"),
    ("openai", "http://localhost:11434", "completions", {}, "http://localhost:11434/v1/completions"),
    ("openai", "https://proxy.example/vendor", "responses", {}, "https://proxy.example/vendor/v1/responses"),
    ("openai", "https://api.openai.com", "models", {}, "https://api.openai.com/v1/models"),
    ("anthropic", "https://api.anthropic.com", "chat", {}, "https://api.anthropic.com/v1/messages"),
    ("anthropic", "https://api.deepseek.com/anthropic", "count_tokens", {},
     "https://api.deepseek.com/anthropic/v1/messages/count_tokens"),
    ("anthropic", "https://relay.example/v1", "chat", {}, "https://relay.example/v1/messages"),
    ("gemini", "https://generativelanguage.googleapis.com", "chat", {"model": "gemini-2.5-flash"},
     "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"),
    ("gemini", "https://generativelanguage.googleapis.com", "chat",
     {"model": "gemini-2.5-flash", "stream": True, "version": "v1"},
     "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
    ("gemini", "https://g.example", "embeddings", {"model": "models/text-embedding-004"},
     "https://g.example/v1beta/models/text-embedding-004:embedContent"),
    ("gemini", "https://g.example", "embeddings", {"model": "e", "method": "batchEmbedContents"},
     "https://g.example/v1beta/models/e:batchEmbedContents"),
    ("gemini", "https://g.example", "count_tokens", {"model": "m"},
     "https://g.example/v1beta/models/m:countTokens"),
    ("gemini", "https://g.example/v1alpha", "chat", {"model": "m", "version": "v1beta"},
     "https://g.example/v1alpha/models/m:generateContent"),
    ("gemini", "https://g.example", "models", {}, "https://g.example/v1beta/models"),
    ("gemini", "https://g.example", "chat", {"model": "../../x?key=1#y"},
     "https://g.example/v1beta/models/..%2F..%2Fx%3Fkey%3D1%23y:generateContent"),
])
def test_upstream_url(type_: str, base: str, endpoint: str, kwargs: dict[str, Any], url: str) -> None:
    channel = make_channel("c", ["*"], type=type_, base_url=base)
    assert upstream_url(channel, endpoint, **kwargs) == url


@pytest.mark.parametrize(("type_", "endpoint"), [
    ("openai", "count_tokens"), ("anthropic", "embeddings"), ("anthropic", "responses"),
])
def test_endpoint_a_channel_type_lacks(type_: str, endpoint: str) -> None:
    with pytest.raises(ValueError, match="no"):
        upstream_url(make_channel("c", ["*"], type=type_), endpoint, model="m")


def test_openai_headers() -> None:
    channel = make_channel("c", ["*"], headers={"OpenAI-Organization": "org-1", "authorization": "x"})
    headers = upstream_headers(channel, SecretStr("sk-secret"), stream=True)
    assert headers == {"Content-Type": "application/json", "Accept": "text/event-stream",
                       "User-Agent": "gateway/0.1", "OpenAI-Organization": "org-1",
                       "Authorization": "Bearer sk-secret"}


def test_anthropic_headers_carry_the_channels_version_and_the_callers_beta() -> None:
    channel = make_channel("c", ["*"], type="anthropic", anthropic_version="2023-06-01",
                           headers={"content-type": "application/json; charset=utf-8"})
    headers = upstream_headers(channel, SecretStr("sk-ant-secret"),
                               {"anthropic-beta": "prompt-caching-2024-07-31", "anthropic-version": "x"})
    assert headers == {"Accept": "application/json", "User-Agent": "gateway/0.1",
                       "anthropic-beta": "prompt-caching-2024-07-31",
                       "content-type": "application/json; charset=utf-8",
                       "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-secret"}


def test_gemini_key_goes_in_a_header_never_the_url() -> None:
    channel = make_channel("c", ["*"], type="gemini", base_url="https://g.example")
    headers = upstream_headers(channel, SecretStr("AIzaSecret"), {"X-Goog-Api-Key": "caller's"})
    assert headers["x-goog-api-key"] == "AIzaSecret"
    assert "X-Goog-Api-Key" not in headers and "Authorization" not in headers
    assert "AIzaSecret" not in upstream_url(channel, "chat", model="m", stream=True)


def test_keyless_channel_sends_no_credential_but_its_own_headers() -> None:
    headers = upstream_headers(make_channel("c", ["*"], keys=[]), None, {"Authorization": "Bearer caller"})
    assert headers == {"Content-Type": "application/json", "Accept": "application/json",
                       "User-Agent": "gateway/0.1", "Authorization": "Bearer caller"}
