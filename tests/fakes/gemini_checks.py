"""Request validation of the fake Gemini API: unknown fields, roles, parts and function-call turns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TOP_FIELDS = {
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
    "model",
    "labels",
    "tool_config",
    "safety_settings",
    "system_instruction",
    "generation_config",
    "cached_content",
}
_GENERATION_FIELDS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "_responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "imageConfig",
    "audioTimestamp",
    "routingConfig",
    "modelSelectionConfig",
}
_FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _unknown(name: str, where: str | None) -> str:
    at = f" at '{where}'" if where else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'


def check_generate(body: Mapping[str, Any], max_output: int) -> str | None:
    """The INVALID_ARGUMENT message for a bad generateContent request, or None."""
    for name in body:
        if name not in _TOP_FIELDS:
            return _unknown(name, None)
    config = body.get("generationConfig", body.get("generation_config")) or {}
    if not isinstance(config, dict):
        return "Invalid JSON payload received. Expected an object for 'generation_config'."
    allowed = _GENERATION_FIELDS | {_snake(f) for f in _GENERATION_FIELDS}
    for name in config:
        if name not in allowed:
            return _unknown(name, "generation_config")
    limit = config.get("maxOutputTokens", config.get("max_output_tokens"))
    if isinstance(limit, int) and not 1 <= limit <= max_output:
        return (
            f"Unable to submit request because it has a maxOutputTokens value of {limit} but the supported "
            f"range is from 1 (inclusive) to {max_output + 1} (exclusive). Update the value and try again."
        )
    found = check_contents(body.get("contents"), "GenerateContentRequest")
    if found is not None:
        return found
    return _check_tools(body.get("tools"))


def check_contents(contents: Any, request_name: str) -> str | None:
    if not contents:
        return f"* {request_name}.contents: contents is not specified\n"
    if not isinstance(contents, list):
        return "Invalid JSON payload received. Expected a list for 'contents'."
    previous_calls = -1  # function calls in the previous model turn, -1 when it was not a call turn
    previous_role = None
    for index, content in enumerate(contents):
        if not isinstance(content, dict):
            return f"Invalid JSON payload received. Expected an object for 'contents[{index}]'."
        role = content.get("role", "user")
        if role not in ("user", "model", "function"):
            return "Please use a valid role: user, model."
        parts = content.get("parts")
        if not parts or not isinstance(parts, list):
            return f"* {request_name}.contents[{index}].parts: contents.parts must not be empty.\n"
        calls = sum(1 for p in parts if isinstance(p, dict) and "functionCall" in p)
        answers = sum(1 for p in parts if isinstance(p, dict) and "functionResponse" in p)
        if answers:
            if previous_calls <= 0:
                return (
                    "Please ensure that function response turn comes immediately after a function call turn."
                )
            if answers != previous_calls:
                return (
                    "Please ensure that the number of function response parts is equal to the number of "
                    "function call parts of the function call turn."
                )
        if calls and previous_role == "model":
            return (
                "Please ensure that function call turn comes immediately after a user turn or after a "
                "function response turn."
            )
        previous_calls = calls if role == "model" else -1
        previous_role = role
    return None


def _check_tools(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "Invalid JSON payload received. Expected a list for 'tools'."
    for index, tool in enumerate(tools):
        declarations = (
            tool.get("functionDeclarations", tool.get("function_declarations"))
            if isinstance(tool, dict)
            else None
        )
        for position, declaration in enumerate(declarations or []):
            name = declaration.get("name") if isinstance(declaration, dict) else None
            if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
                return (
                    f"* GenerateContentRequest.tools[{index}].function_declarations[{position}].name: "
                    "Invalid function name. Must start with a letter or an underscore. Must be alphameric "
                    "(a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum "
                    "length of 64.\n"
                )
    return None


def declared_functions(body: Mapping[str, Any]) -> bool:
    return any(
        isinstance(t, dict) and (t.get("functionDeclarations") or t.get("function_declarations"))
        for t in body.get("tools") or []
    )


def has_search_tool(body: Mapping[str, Any]) -> bool:
    names = ("googleSearch", "google_search", "googleSearchRetrieval", "google_search_retrieval")
    return any(isinstance(t, dict) and any(n in t for n in names) for t in body.get("tools") or [])


def includes_thoughts(body: Mapping[str, Any]) -> bool:
    config = body.get("generationConfig", body.get("generation_config")) or {}
    thinking = config.get("thinkingConfig", config.get("thinking_config")) or {}
    return bool(thinking.get("includeThoughts", thinking.get("include_thoughts")))
