"""Literal upstream SSE streams (tests/protocols/sse/*.sse, shaped as the providers' docs show them) and
what a relay must read from each."""

from __future__ import annotations

from pathlib import Path

_DIR = Path(__file__).parent / "sse"


def load(name: str) -> str:
    return (_DIR / f"{name}.sse").read_bytes().decode()


def events_of(stream: str) -> list[str]:
    """The stream's events as text, each with its blank line (for LF-framed streams)."""
    return [block + "\n\n" for block in stream.split("\n\n") if block]


OPENAI_TEXT = load("openai_text")  # role chunk, 2 text chunks, finish chunk, usage chunk, [DONE]
OPENAI_TEXT_BYTES = len(b"Hello") + len(" w\u00f6rld \u4e16\u754c".encode())
OPENAI_TOOL_CALLS = load("openai_tool_calls")
OPENAI_TOOL_BYTES = len("get_weather") + len('{"location":"Paris') + len('"}')
OPENAI_ERROR = load("openai_error")  # role chunk, "Hello", then an error chunk

ANTHROPIC_THINKING_TOOL = load("anthropic_thinking_tool")
ANTHROPIC_THINKING_TOOL_BYTES = (
    len("I need to find the GCD of 1071 and 462.") + len("Okay, let\u2019s check the weather".encode())
    + len("get_weather") + len('{"location": "San Fra') + len('ncisco, CA"}'))
ANTHROPIC_OVERLOADED = load("anthropic_overloaded")  # message_start, "Hello", event: error

GEMINI_TEXT = load("gemini_text")  # two chunks, CRLF-framed, cumulative usageMetadata, finishReason last
GEMINI_TEXT_BYTES = len("The") + len(" quick br\u00f8wn fox".encode())
GEMINI_FUNCTION_CALL = load("gemini_function_call")
GEMINI_FUNCTION_CALL_BYTES = len("get_weather") + len('{"location":"Boston, MA"}')
GEMINI_ERROR = load("gemini_error")  # "Once", then {"error": {...}}
