"""Upstream error bodies become short caller-safe messages: the provider's text, never a key."""

from __future__ import annotations

import json

import pytest

from gateway.protocols import anthropic, gemini, openai
from gateway.protocols.redact import scrub_secrets


def test_openai_error_message() -> None:
    body = {"error": {"message": "This model's maximum context length is 128000 tokens.",
                      "type": "invalid_request_error", "param": "messages",
                      "code": "context_length_exceeded"}}
    assert openai.error_message(400, json.dumps(body).encode()) == (
        "This model's maximum context length is 128000 tokens.")


def test_openai_error_echoing_the_channel_key_is_scrubbed() -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-proj-Ab3dE***********************wXyZ. "
                                 "You can find your API key at https://platform.openai.com/account/api-keys.",
                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
    message = openai.error_message(401, json.dumps(body).encode())
    assert "sk-" not in message and "Ab3dE" not in message and "wXyZ" not in message
    assert message.startswith("Incorrect API key provided: [redacted]")


def test_anthropic_error_message() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    assert anthropic.error_message(529, json.dumps(body).encode()) == "Overloaded"


def test_gemini_error_message_plain_and_array_wrapped() -> None:
    error = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                       "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}
    message = "API key not valid. Please pass a valid API key."
    assert gemini.error_message(400, json.dumps(error).encode()) == message
    assert gemini.error_message(400, json.dumps([error]).encode()).startswith("API key not valid.")


@pytest.mark.parametrize("body", [b"", b"<html><body>502 Bad Gateway</body></html>", b"\xff\xfe\x00",
                                  b'{"unexpected": true}', b"[]", b"null", b"[" * 5000])
def test_unhelpful_bodies_give_a_generic_message(body: bytes) -> None:
    for module in (openai, anthropic, gemini):
        assert module.error_message(502, body) == "upstream returned HTTP 502"


def test_short_plain_text_body_is_kept() -> None:
    assert openai.error_message(503, b"upstream connect error or disconnect/reset before headers\n") == (
        "upstream connect error or disconnect/reset before headers")


def test_long_messages_are_cut() -> None:
    message = openai.error_message(400, json.dumps({"error": {"message": "word " * 1000}}).encode())
    assert len(message) <= 1001


@pytest.mark.parametrize(("text", "secret"), [
    ("Incorrect API key provided: sk-abc***def", "abc"),
    ("bad key sk-ant-api03-Qx7_yT-0aBcDeFgHiJkLmNoPqRsTuVwXyZ", "Qx7_yT"),
    ("API key AIzaSyA-1234567890abcdefghijklmnop is invalid", "AIzaSy"),
    ("API key not valid: AIzaSyAB****************wxyz.", "wxyz"),  # a masked key keeps no tail
    ("GET https://generativelanguage.googleapis.com/v1beta/models?key=s3cr3t-value&alt=sse", "s3cr3t"),
    ('{"api_key": "plainsecret"}', "plainsecret"),
    ("header was Authorization: Bearer tok_live_12345", "tok_live"),
    ("token ya29.a0AfH6SMBx-example-oauth", "a0AfH6"),
    ("opaque 4f9c2a7e1b3d5f60718293a4b5c6d7e8f9a0b1c2d3e4", "4f9c2a7e"),
])
def test_scrub_secrets(text: str, secret: str) -> None:
    assert secret not in scrub_secrets(text)


def test_scrub_keeps_ordinary_text_and_json_validity() -> None:
    ordinary = "The model `gpt-4o-mini` does not exist or you do not have access to it. (req_011CSHoEeqs5C)"
    assert scrub_secrets(ordinary) == ordinary
    data = json.dumps({"error": {"message": 'quoted "Bearer abc\\"def" and key=xyz"q'}})
    assert json.loads(scrub_secrets(data))["error"]["message"].count("[redacted]") == 2
