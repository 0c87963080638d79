"""Prompt and output token estimates: the documented rule, media handled apart, never badly low."""

from __future__ import annotations

import base64
import json

from gateway.protocols import Protocol
from gateway.protocols.estimate import (
    TOKENS_PER_IMAGE,
    count_text_tokens,
    estimate_prompt_tokens,
    tokens_from_chars,
    utf8_len,
)

PNG_B64 = base64.b64encode(b"\x89PNG" + bytes(range(256)) * 400).decode()  # ~100 KiB image
PDF_B64 = base64.b64encode(b"%PDF-1.7 " + b"q" * 40_000).decode()


def test_text_rule_is_utf8_bytes_over_three_rounded_up() -> None:
    assert count_text_tokens("") == 0
    assert count_text_tokens("abc") == 1
    assert count_text_tokens("abcd") == 2
    assert count_text_tokens("世界") == 2  # 6 bytes
    assert count_text_tokens("😀") == 2  # 4 bytes
    assert tokens_from_chars(utf8_len("héllo")) == count_text_tokens("héllo") == 2
    assert tokens_from_chars(-5) == 0


def test_text_estimate_is_above_real_token_counts() -> None:
    # Real counts (o200k_base): this English paragraph is 47 tokens; 100 CJK characters are about 100.
    english = ("The quick brown fox jumps over the lazy dog. " * 4).strip() + " Then it naps in the sun."
    assert count_text_tokens(english) >= 47
    assert count_text_tokens("我" * 100) >= 100


def test_openai_chat_counts_text_messages_and_overhead() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "Hello there"}]}
    text = ["model", "gpt-4o", "messages", "role", "system", "content", "Be brief.",
            "role", "user", "content", "Hello there"]
    expected = count_text_tokens("".join(text)) + 2 * 4 + 3
    assert estimate_prompt_tokens(Protocol.OPENAI, body) == expected


def test_images_cost_a_fixed_amount_whatever_their_encoding() -> None:
    url_part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}}
    b64_part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
    for part in (url_part, b64_part):
        body = {"model": "m", "messages": [{"role": "user", "content": [part]}]}
        estimate = estimate_prompt_tokens(Protocol.OPENAI, body)
        assert TOKENS_PER_IMAGE <= estimate < TOKENS_PER_IMAGE + 30
    anthropic = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "text", "text": "What is this?"}]}]}
    assert TOKENS_PER_IMAGE < estimate_prompt_tokens(Protocol.ANTHROPIC, anthropic) < TOKENS_PER_IMAGE + 40
    gemini = {"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "image/jpeg", "data": PNG_B64}}, {"text": "Caption this."}]}]}
    assert TOKENS_PER_IMAGE < estimate_prompt_tokens(Protocol.GEMINI, gemini) < TOKENS_PER_IMAGE + 40


def test_documents_and_audio_count_by_size_not_as_text() -> None:
    decoded = len(base64.b64decode(PDF_B64))
    anthropic = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "document",
         "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}}]}]}
    estimate = estimate_prompt_tokens(Protocol.ANTHROPIC, anthropic)
    assert decoded // 4 <= estimate < decoded // 4 + 40
    openai_file = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file",
         "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}}]}]}
    assert decoded // 4 <= estimate_prompt_tokens(Protocol.OPENAI, openai_file) < decoded // 4 + 40
    audio_b64 = base64.b64encode(bytes(200_000)).decode()
    audio = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": audio_b64, "format": "wav"}}]}]}
    assert 200_000 // 32 <= estimate_prompt_tokens(Protocol.OPENAI, audio) < 200_000 // 32 + 40


def test_media_by_reference_costs_one_image() -> None:
    gemini = {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "video/mp4", "fileUri": "https://generativelanguage.googleapis.com/v1/f/1"}}]}]}
    estimate = estimate_prompt_tokens(Protocol.GEMINI, gemini)
    assert TOKENS_PER_IMAGE <= estimate < TOKENS_PER_IMAGE + 60  # one image plus the URI as text
    openai = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"}}]}]}
    assert TOKENS_PER_IMAGE <= estimate_prompt_tokens(Protocol.OPENAI, openai) < TOKENS_PER_IMAGE + 40


def test_plain_text_document_counts_as_text() -> None:
    text = "A plain text document. " * 200
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}]}]}
    estimate = estimate_prompt_tokens(Protocol.ANTHROPIC, body)
    assert count_text_tokens(text) <= estimate < count_text_tokens(text) + 40


def test_tools_system_and_long_unspaced_text_are_counted() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather " * 100,
                                               "parameters": {"type": "object", "properties": {}}}}]
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    assert estimate_prompt_tokens(Protocol.OPENAI, body) >= count_text_tokens(json.dumps(tools)) * 0.8
    dna = "ACGT" * 5000  # base64-looking text under a text key is still text
    body = {"model": "m", "system": "s",
            "messages": [{"role": "user", "content": [{"type": "text", "text": dna}]}]}
    assert estimate_prompt_tokens(Protocol.ANTHROPIC, body) >= count_text_tokens(dna)


def test_deeply_nested_bodies_do_not_overflow_the_stack() -> None:
    nested: object = "leaf"
    for _ in range(5000):
        nested = {"a": [nested]}
    assert estimate_prompt_tokens(Protocol.OPENAI, {"model": "m", "messages": [nested]}) > 5000 // 3
