"""Small helpers shared by the adapters: compact JSON, tolerant argument parsing, SSE events."""

from __future__ import annotations

import json
from typing import Any

from gateway.protocols import Protocol
from gateway.protocols.sse import Event
from gateway.translate.neutral import Json

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI

# Features the neutral model holds but a target may lack, named as the caller (door) calls them.
CONCEPT_NAMES: dict[str, dict[Protocol, str]] = {
    "parallel_tool_calls": {OPENAI: "parallel_tool_calls",
                            ANTHROPIC: "tool_choice.disable_parallel_tool_use"},
    "thinking": {OPENAI: "messages.reasoning_content", ANTHROPIC: "messages.content.thinking",
                 GEMINI: "contents.parts.thought"},
    "reasoning": {OPENAI: "reasoning_effort", ANTHROPIC: "thinking",
                  GEMINI: "generationConfig.thinkingConfig"},
    "tool_result_media": {OPENAI: "messages.content.image_url",
                          ANTHROPIC: "messages.content.tool_result.content.image",
                          GEMINI: "contents.parts.functionResponse.parts"},
    "tool_result_error": {ANTHROPIC: "messages.content.tool_result.is_error"},
    "media": {OPENAI: "messages.content.file", ANTHROPIC: "messages.content.document",
              GEMINI: "contents.parts.inlineData"},
    "media_url": {OPENAI: "messages.content.image_url.url", ANTHROPIC: "messages.content.image.source.url",
                  GEMINI: "contents.parts.fileData.fileUri"},
    "tool_strict": {OPENAI: "tools.function.strict", ANTHROPIC: "tools.strict"},
    "allowed_function_names": {GEMINI: "toolConfig.functionCallingConfig.allowedFunctionNames"},
    "response_schema_strict": {OPENAI: "response_format.json_schema.strict"},
}

SCHEMA_WHERE: dict[Protocol, str] = {OPENAI: "tools.function.parameters", ANTHROPIC: "tools.input_schema",
                                     GEMINI: "tools.functionDeclarations.parameters"}
RESPONSE_SCHEMA_WHERE: dict[Protocol, str] = {OPENAI: "response_format.json_schema.schema",
                                              ANTHROPIC: "output_config.format.schema",
                                              GEMINI: "generationConfig.responseSchema"}


def concept(name: str, door: Protocol) -> str:
    """The caller's name for a neutral feature that could not be carried."""
    return CONCEPT_NAMES.get(name, {}).get(door, name)


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Any:
    """Parsed JSON, or None when `text` is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def arguments_object(arguments: str) -> Json | None:
    """Tool-call arguments as an object: {} for empty text, None when not a JSON object."""
    if not arguments.strip():
        return {}
    parsed = loads(arguments)
    return parsed if isinstance(parsed, dict) else None


def sse(data: Any, name: str | None = None) -> Event:
    """One SSE event carrying `data` as compact JSON (or a literal string such as [DONE])."""
    return Event(data=data if isinstance(data, str) else dumps(data), event=name)


def text_of(value: Any) -> str:
    """Text from a string or a list of text parts ({"type": "text", "text": ...} or {"text": ...})."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return ""
