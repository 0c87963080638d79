"""Request validation of the fake OpenAI API, with the real API's messages, params and codes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Problem = tuple[int, str, str | None, str | None]  # status, message, param, code

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_KIND_MISMATCH = {
    "chat": "This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
    "Did you mean to use v1/completions?",
    "completion": "This is a chat model and not supported in the v1/completions endpoint. "
    "Did you mean to use v1/chat/completions?",
    "embedding": "This model does not support embeddings.",
}


def problem(status: int, message: str, param: str | None, code: str | None) -> Problem:
    return (status, message, param, code)


def model_problem(
    body: Mapping[str, Any], models: Mapping[str, tuple[str, int]], kind: str
) -> Problem | None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return problem(400, "you must provide a model parameter", None, None)
    if model not in models:
        return problem(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            None,
            "model_not_found",
        )
    if models[model][0] != kind:
        return problem(404 if kind != "embedding" else 400, _KIND_MISMATCH[kind], "model", None)
    return None


def check_chat(body: Mapping[str, Any]) -> Problem | None:
    messages = body.get("messages")
    if "messages" not in body:
        return problem(
            400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(messages, list):
        return problem(
            400,
            f"Invalid type for 'messages': expected an array, but got {_json_type(messages)} instead.",
            "messages",
            "invalid_type",
        )
    if not messages:
        return problem(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but "
            "got an empty array instead.",
            "messages",
            "empty_array",
        )
    found = _check_messages(messages) or _check_reasoning_model(body)
    if found is not None:
        return found
    if "stream_options" in body and body.get("stream_options") is not None and not body.get("stream"):
        return problem(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            None,
        )
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
        return problem(
            400,
            f"Invalid 'n': integer out of range. Expected a value between 1 and 128, but got {n} instead.",
            "n",
            "integer_out_of_range",
        )
    if body.get("tool_choice") is not None and not body.get("tools"):
        return problem(
            400,
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            "tool_choice",
            None,
        )
    return None


def _check_reasoning_model(body: Mapping[str, Any]) -> Problem | None:
    """o-series models refuse `max_tokens` and any sampling temperature but the default."""
    if not re.match(r"^o\d", str(body.get("model"))):
        return None
    if "max_tokens" in body:
        return problem(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return problem(
            400,
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        )
    return None


def _check_messages(messages: list[Any]) -> Problem | None:
    """Roles, contents, and the pairing of assistant `tool_calls` with the `tool` answers that follow."""
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that made it
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return problem(
                400,
                f"Invalid type for 'messages[{index}]': expected an object, but got "
                f"{_json_type(message)} instead.",
                f"messages[{index}]",
                "invalid_type",
            )
        role = message.get("role")
        if role not in _ROLES:
            return problem(
                400,
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                f"messages[{index}].role",
                "invalid_value",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return problem(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{index}].role",
                    None,
                )
            del pending[call_id]
            continue
        if pending:
            return _unanswered(pending)
        if "content" not in message and not (role == "assistant" and message.get("tool_calls")):
            return problem(
                400,
                f"Missing required parameter: 'messages[{index}].content'.",
                f"messages[{index}].content",
                "missing_required_parameter",
            )
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                call_id = call.get("id") if isinstance(call, dict) else None
                if not isinstance(call_id, str):
                    return problem(
                        400,
                        f"Missing required parameter: 'messages[{index}].tool_calls[0].id'.",
                        f"messages[{index}].tool_calls[0].id",
                        "missing_required_parameter",
                    )
                pending[call_id] = index
    return _unanswered(pending) if pending else None


def _unanswered(pending: dict[str, int]) -> Problem:
    index = min(pending.values())
    ids = ", ".join(call_id for call_id, at in pending.items() if at == index)
    return problem(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
        f"messages.[{index}].role",
        None,
    )


def check_tools(tools: Any) -> Problem | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return problem(
            400,
            f"Invalid type for 'tools': expected an array, but got {_json_type(tools)} instead.",
            "tools",
            "invalid_type",
        )
    if not tools:
        return problem(
            400,
            "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            "tools",
            "empty_array",
        )
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") not in ("function", "custom"):
            return problem(
                400,
                f"Missing required parameter: 'tools[{index}].type'.",
                f"tools[{index}].type",
                "missing_required_parameter",
            )
        if tool["type"] != "function":
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name is None:
            return problem(
                400,
                f"Missing required parameter: 'tools[{index}].function.name'.",
                f"tools[{index}].function.name",
                "missing_required_parameter",
            )
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return problem(
                400,
                f"Invalid 'tools[{index}].function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                f"tools[{index}].function.name",
                "invalid_value",
            )
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number"
