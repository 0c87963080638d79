"""Request validation of the fake Anthropic Messages API, with the real API's error messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Problem = tuple[int, str]  # status, message (the type follows from the status)

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


def check_message_request(
    body: Mapping[str, Any], max_output: Mapping[str, int], *, needs_max_tokens: bool = True
) -> Problem | None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return (400, "model: Field required")
    if model not in max_output:
        return (404, f"model: {model}")
    if needs_max_tokens:
        found = _check_max_tokens(body, model, max_output[model])
        if found is not None:
            return found
    if "messages" not in body:
        return (400, "messages: Field required")
    messages = body["messages"]
    if not isinstance(messages, list):
        return (400, "messages: Input should be a valid list")
    if not messages:
        return (400, "messages: at least one message is required")
    found = _check_messages(messages)
    if found is not None:
        return found
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not 0 <= temperature <= 1:
        bound = "less than or equal to 1" if temperature > 1 else "greater than or equal to 0"
        return (400, f"temperature: Input should be {bound}")
    return _check_tools(body.get("tools"))


def _check_max_tokens(body: Mapping[str, Any], model: str, limit: int) -> Problem | None:
    if "max_tokens" not in body:
        return (400, "max_tokens: Field required")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return (400, "max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        return (400, "max_tokens: Input should be greater than or equal to 1")
    if max_tokens > limit:
        return (
            400,
            f"max_tokens: {max_tokens} > {limit}, which is the maximum allowed number of output "
            f"tokens for {model}",
        )
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return (400, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if max_tokens <= budget:
            return (
                400,
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                "#max-tokens-and-context-window-size",
            )
    return None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return [block for block in content if isinstance(block, dict)]
    return []


def _check_messages(messages: list[Any]) -> Problem | None:
    """Roles, non-empty contents, and every tool_use answered by a tool_result in the next message.
    Consecutive turns of one role are allowed: the real API merges them."""
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return (400, f"messages.{index}: Input should be a valid dictionary")
        role = message.get("role")
        if role == "system":
            return (
                400,
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                'parameter, not "system" as an input message role.',
            )
        if role not in ("user", "assistant"):
            return (400, f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            return (400, f"messages.{index}.content: Field required")
        content = message["content"]
        last_assistant = index == len(messages) - 1 and role == "assistant"
        if (content == "" or content == []) and not last_assistant:
            return (
                400,
                f"messages.{index}: all messages must have non-empty content except for the optional "
                "final assistant message",
            )
        if not isinstance(content, str | list):
            return (400, f"messages.{index}.content: Input should be a valid string")
        for position, block in enumerate(_blocks(content)):
            if block.get("type") == "tool_result" and role != "user":
                return (
                    400,
                    f"messages.{index}.content.{position}: tool_result blocks are only allowed in user "
                    "messages",
                )
        found = _check_tool_pairing(messages, index)
        if found is not None:
            return found
    return None


def _check_tool_pairing(messages: list[Any], index: int) -> Problem | None:
    message = messages[index]
    if message["role"] == "user":
        previous = messages[index - 1] if index > 0 else {}
        used = (
            {b.get("id") for b in _blocks(previous.get("content")) if b.get("type") == "tool_use"}
            if previous.get("role") == "assistant"
            else set()
        )
        for position, block in enumerate(_blocks(message["content"])):
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in used:
                return (
                    400,
                    f"messages.{index}.content.{position}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` block must have "
                    "a corresponding `tool_use` block in the previous message.",
                )
        return None
    uses = [b.get("id") for b in _blocks(message["content"]) if b.get("type") == "tool_use"]
    if not uses:
        return None
    following = messages[index + 1] if index + 1 < len(messages) else {}
    if isinstance(following, dict) and following.get("role") == "user" and "content" in following:
        found = _check_tool_pairing(messages, index + 1)  # an unexpected id is reported before a missing one
        if found is not None:
            return found
    answered = (
        {b.get("tool_use_id") for b in _blocks(following.get("content")) if b.get("type") == "tool_result"}
        if following.get("role") == "user"
        else set()
    )
    missing = [use for use in uses if use not in answered]
    if missing:
        return (
            400,
            f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
            f"after: {', '.join(str(m) for m in missing)}. Each `tool_use` block must have a corresponding "
            "`tool_result` block in the next message.",
        )
    return None


def _check_tools(tools: Any) -> Problem | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return (400, "tools: Input should be a valid list")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return (400, f"tools.{index}: Input should be a valid dictionary")
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web_search_20250305, …) carry their own fields
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return (400, f"tools.{index}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if not isinstance(tool.get("input_schema"), dict):
            return (400, f"tools.{index}.custom.input_schema: Field required")
    return None
