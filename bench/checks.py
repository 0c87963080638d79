"""Before any load: every route must give the right answer, so the numbers measure working paths."""

from __future__ import annotations

import json
from typing import Any

from bench.client import Answer

WORDS = 20  # the fake upstream's default chunk count; its text is "word0 word1 … word19 "


def expected_text(words: int = WORDS) -> str:
    return "".join(f"word{i} " for i in range(words))


def check_openai(answer: Answer, *, stream: bool, route: str) -> None:
    """Raises AssertionError unless `answer` is a complete OpenAI chat answer with the fake's text and
    usage (24 prompt tokens, one completion token per word)."""
    if answer.status != 200:
        raise AssertionError(f"{route}: status {answer.status}: {answer.body[:300]!r}")
    if not stream:
        reply = json.loads(answer.body)
        text = reply["choices"][0]["message"]["content"]
        usage = reply.get("usage") or {}
    else:
        text, usage = _stream_text(answer.body, route)
    if text != expected_text():
        raise AssertionError(f"{route}: unexpected text {text[:80]!r}")
    if usage.get("completion_tokens") != WORDS or usage.get("prompt_tokens") != 24:
        raise AssertionError(f"{route}: unexpected usage {usage}")


def _stream_text(body: bytes, route: str) -> tuple[str, dict[str, Any]]:
    events = [e for e in body.decode().replace("\r\n", "\n").split("\n\n") if e.strip()]
    data = [line[5:].strip() for e in events for line in e.split("\n") if line.startswith("data:")]
    if not data or data[-1] != "[DONE]":
        raise AssertionError(f"{route}: the stream does not end with data: [DONE]")
    text, usage = "", {}
    for item in data[:-1]:
        chunk = json.loads(item)
        for choice in chunk.get("choices") or []:
            text += (choice.get("delta") or {}).get("content") or ""
        if chunk.get("usage"):
            usage = chunk["usage"]
    return text, usage


def check_anthropic(answer: Answer, *, stream: bool, route: str) -> None:
    if answer.status != 200:
        raise AssertionError(f"{route}: status {answer.status}: {answer.body[:300]!r}")
    if stream:
        if b"event: message_stop" not in answer.body:
            raise AssertionError(f"{route}: the stream has no message_stop")
        return
    reply = json.loads(answer.body)
    if reply["content"][0]["text"] != expected_text():
        raise AssertionError(f"{route}: unexpected text")
