"""Anthropic Messages requests to and from the neutral model."""

from __future__ import annotations

from typing import Any

from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.translate import ids
from gateway.translate import media as media_util
from gateway.translate import schema as schema_util
from gateway.translate.fields import door_name, read_sampling, write_sampling
from gateway.translate.neutral import (
    ChatRequest,
    Drops,
    Json,
    Media,
    Message,
    Part,
    Reasoning,
    ResponseFormat,
    Role,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from gateway.translate.reasoning import ANTHROPIC_MIN_BUDGET, DYNAMIC_BUDGET, budget_of
from gateway.translate.wire import arguments_object, concept, dumps

ANTHROPIC = Protocol.ANTHROPIC
_IGNORED = ("model", "stream")
# Without a native JSON mode for json_object, the instruction rides in the system prompt.
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
_TOOL_CHOICE_IN = {"auto": "auto", "any": "required", "none": "none", "tool": "named"}
_TOOL_CHOICE_OUT = {"auto": "auto", "required": "any", "none": "none", "named": "tool"}


# ---- Anthropic -> neutral ------------------------------------------------------------------------

def read_request(body: Json, drops: Drops) -> ChatRequest:
    rest = dict(body)
    for key in _IGNORED:
        rest.pop(key, None)
    if isinstance(rest.get("metadata"), dict):
        rest["metadata"] = dict(rest["metadata"])
    req = ChatRequest(sampling=read_sampling(ANTHROPIC, rest))
    if rest.get("metadata") == {}:
        rest.pop("metadata")
    req.system = _read_system(rest.pop("system", None), drops)
    messages = rest.pop("messages", None)
    if not isinstance(messages, list) or not messages:
        raise GatewayError("invalid_request", "messages must be a non-empty array", param="messages")
    names: dict[str, str] = {}
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise GatewayError("invalid_request", "each message needs role user or assistant",
                               param="messages")
        _read_message(msg, req.messages, names, drops)
    tools = rest.pop("tools", None)
    req.tools = [_read_tool(t, drops) for t in (tools if isinstance(tools, list) else [])
                 if _is_custom(t, drops)]
    _read_tool_choice(rest.pop("tool_choice", None), req)
    req.reasoning = _read_thinking(rest.pop("thinking", None))
    output = rest.pop("output_config", None)
    if isinstance(output, dict):
        _read_output_config(output, req, drops)
    for key, value in rest.items():
        if value is not None:
            drops.add(key)
    return req


def _read_system(system: Any, drops: Drops) -> list[Text]:
    if isinstance(system, str):
        return [Text(system)] if system else []
    texts: list[Text] = []
    for block in system if isinstance(system, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            if block.get("cache_control") is not None:
                drops.add("system.cache_control")
            texts.append(Text(str(block.get("text", ""))))
    return texts


def _blocks(content: Any) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _read_message(msg: Json, messages: list[Message], names: dict[str, str], drops: Drops) -> None:
    results: list[Part] = []
    parts: list[Part] = []
    for block in _blocks(msg.get("content")):
        if block.get("cache_control") is not None:
            drops.add("messages.content.cache_control")
        kind = block.get("type")
        if kind == "text":
            parts.append(Text(str(block.get("text", ""))))
            if block.get("citations"):
                drops.add("messages.content.citations")
        elif kind == "document" and _obj(block.get("source")).get("type") == "text":
            parts.append(Text(str(block["source"].get("data", ""))))
        elif kind in ("image", "document"):
            media = _read_source(block.get("source"))
            if media is None:
                drops.add(f"messages.content.{kind}")
            else:
                parts.append(media)
        elif kind == "tool_use":
            call_id, signature = ids.split(str(block.get("id", "")))
            call = ToolCall(call_id, str(block.get("name", "")), dumps(block.get("input") or {}), signature)
            names[call.id] = call.name
            parts.append(call)
        elif kind == "tool_result":
            call_id = ids.split(str(block.get("tool_use_id", "")))[0]
            content = [p for p in (_read_result_block(b, drops) for b in _blocks(block.get("content"))) if p]
            results.append(ToolResult(call_id, names.get(call_id, ""), content,
                                      is_error=block.get("is_error") is True))
        elif kind == "thinking":
            parts.append(Thinking(str(block.get("thinking", "")), block.get("signature"), ANTHROPIC))
        elif kind == "redacted_thinking":
            parts.append(Thinking("", block.get("data"), ANTHROPIC, redacted=True))
        else:
            drops.add(f"messages.content.{kind}")
    # Tool results open the turn, as OpenAI wants tool messages right after the calls.
    role: Role = "assistant" if msg["role"] == "assistant" else "user"
    for group_role, group in (("tool", results), (role, parts)):
        if not group:
            continue
        if messages and messages[-1].role == group_role:
            messages[-1].parts.extend(group)
        else:
            messages.append(Message(group_role, group))  # type: ignore[arg-type]


def _read_result_block(block: Json, drops: Drops) -> Text | Media | None:
    if block.get("type") == "text":
        return Text(str(block.get("text", "")))
    if block.get("type") == "image":
        media = _read_source(block.get("source"))
        if media is not None:
            return media
    drops.add(f"messages.content.tool_result.content.{block.get('type')}")
    return None


def _read_source(source: Any) -> Media | None:
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        return Media(mime=_str(source.get("media_type")), data=_str(source.get("data")))
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return Media(mime=media_util.guess_mime(source["url"]), url=source["url"])
    return None


def _is_custom(tool: Any, drops: Drops) -> bool:
    if isinstance(tool, dict) and tool.get("type") in (None, "custom") and "input_schema" in tool:
        return True
    drops.add(f"tools.{tool.get('type') if isinstance(tool, dict) else 'invalid'}")
    return False


def _str(value: Any) -> str | None:
    """A string field as given; anything else a caller put there counts as absent."""
    return value if isinstance(value, str) else None


def _obj(value: Any) -> Json:
    """An object field as given; a caller's non-object there reads as empty."""
    return value if isinstance(value, dict) else {}


def _read_tool(tool: Json, drops: Drops) -> Tool:
    if tool.get("cache_control") is not None:
        drops.add("tools.cache_control")
    strict = tool.get("strict")
    return Tool(name=str(tool.get("name", "")), description=tool.get("description"),
                parameters=tool.get("input_schema"), strict=strict if isinstance(strict, bool) else None)


def _read_tool_choice(choice: Any, req: ChatRequest) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if not isinstance(kind, str) or kind not in _TOOL_CHOICE_IN:
        return
    mode = _TOOL_CHOICE_IN[kind]
    req.tool_choice = ToolChoice(mode, str(choice.get("name", "")) if mode == "named" else None)  # type: ignore[arg-type]
    if isinstance(choice.get("disable_parallel_tool_use"), bool):
        req.parallel_tool_calls = not choice["disable_parallel_tool_use"]


def _read_thinking(thinking: Any) -> Reasoning | None:
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "enabled" and isinstance(thinking.get("budget_tokens"), int):
        return Reasoning(budget=thinking["budget_tokens"], include_thoughts=True)
    if kind == "disabled":
        return Reasoning(effort="none")
    if kind == "adaptive":
        return Reasoning(budget=-1, include_thoughts=True)
    return None


def _read_output_config(output: Json, req: ChatRequest, drops: Drops) -> None:
    fmt = output.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        req.response_format = ResponseFormat("json_schema", schema=fmt.get("schema"))
    effort = output.get("effort")
    if isinstance(effort, str):
        if req.reasoning is None:
            req.reasoning = Reasoning(effort=effort)
        else:
            req.reasoning.effort = effort
    for key in output:
        if key not in ("format", "effort"):
            drops.add(f"output_config.{key}")


# ---- neutral -> Anthropic ------------------------------------------------------------------------

def write_request(req: ChatRequest, door: Protocol, drops: Drops, *, model: str, stream: bool,
                  default_max_tokens: int) -> Json:
    body: Json = {"model": model}
    write_sampling(req.sampling, ANTHROPIC, door, body, drops)
    body.setdefault("max_tokens", default_max_tokens)
    system = [p.text for p in req.system]
    if req.response_format is not None and req.response_format.kind == "json_object":
        system.append(JSON_OBJECT_INSTRUCTION)
    if system:
        body["system"] = system[0] if len(system) == 1 else [{"type": "text", "text": t} for t in system]
    body["messages"] = _write_messages(req.messages, door, drops)
    body = {k: body[k] for k in ("model", "max_tokens", "system", "messages") if k in body} | body
    if req.tools:
        body["tools"] = [_write_tool(t) for t in req.tools]
    choice = _write_tool_choice(req)
    if choice is not None:
        body["tool_choice"] = choice
    if req.response_format is not None and req.response_format.kind == "json_schema":
        schema = schema_util.closed_objects(req.response_format.schema or {})
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if req.reasoning is not None:
        _write_thinking(req, body, door, drops, user_max=req.sampling.get("max_tokens"))
    if stream:
        body["stream"] = True
    return body


def _write_thinking(req: ChatRequest, body: Json, door: Protocol, drops: Drops, user_max: Any) -> None:
    assert req.reasoning is not None
    budget = budget_of(req.reasoning)
    if budget is None:
        return
    if budget == 0:
        body["thinking"] = {"type": "disabled"}
        return
    if _unsigned_tool_turn(req.messages):
        # Anthropic refuses thinking when the last assistant tool call has no signed thinking block.
        drops.add(concept("reasoning", door))
        return
    if budget < 0:
        budget = DYNAMIC_BUDGET
    if budget < ANTHROPIC_MIN_BUDGET:
        drops.add(concept("reasoning", door))  # raised to Anthropic's minimum
        budget = ANTHROPIC_MIN_BUDGET
    if not isinstance(user_max, int):
        body["max_tokens"] = body["max_tokens"] + budget  # the budget is spent inside max_tokens
    elif budget >= user_max:
        budget = user_max - 1
        drops.add(concept("reasoning", door))  # lowered to fit the caller's max tokens
        if budget < ANTHROPIC_MIN_BUDGET:
            return
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    for name in ("temperature", "top_k"):  # Anthropic refuses these while thinking
        if name in body:
            del body[name]
            drops.add(door_name(name, door))


def _unsigned_tool_turn(messages: list[Message]) -> bool:
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    if last is None or not any(isinstance(p, ToolCall) for p in last.parts):
        return False
    return not any(isinstance(p, Thinking) and p.origin is ANTHROPIC and p.signature for p in last.parts)


def _write_tool_choice(req: ChatRequest) -> Json | None:
    choice: Json | None = None
    if req.tool_choice is not None:
        choice = {"type": _TOOL_CHOICE_OUT[req.tool_choice.mode]}
        if req.tool_choice.mode == "named":
            choice["name"] = req.tool_choice.name
    if req.parallel_tool_calls is False and req.tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    return choice


def _write_tool(tool: Tool) -> Json:
    out: Json = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict is not None:
        out["strict"] = tool.strict
    return out


def _write_messages(messages: list[Message], door: Protocol, drops: Drops) -> list[Json]:
    out: list[Json] = []
    for msg in messages:
        role = "assistant" if msg.role == "assistant" else "user"
        blocks = [b for b in (_write_part(p, door, drops) for p in msg.parts) if b]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for msg_out in out:  # a lone text block reads better as a plain string
        blocks = msg_out["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            msg_out["content"] = blocks[0]["text"]
    return out


def _write_part(part: Part, door: Protocol, drops: Drops) -> Json | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text.strip() else None
    if isinstance(part, Media):
        return _write_media(part, door, drops)
    if isinstance(part, ToolCall):
        args = arguments_object(part.arguments)
        if args is None:
            drops.add("tool_calls.function.arguments")
            args = {}
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": args}
    if isinstance(part, ToolResult):
        return _write_result(part, door, drops)
    if part.origin is ANTHROPIC and part.signature:
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.signature}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    if part.text or part.signature:
        drops.add(concept("thinking", door))  # unsigned or foreign thinking is refused by Anthropic
    return None


def _write_media(media: Media, door: Protocol, drops: Drops) -> Json | None:
    kind = "image" if media_util.is_image(media) else "document"
    if kind == "document" and media.mime != "application/pdf":
        drops.add(concept("media", door))
        return None
    if media.url is not None:
        if not media_util.is_fetchable(media.url):
            drops.add(concept("media_url", door))
            return None
        return {"type": kind, "source": {"type": "url", "url": media.url}}
    return {"type": kind, "source": {"type": "base64", "media_type": media.mime or "image/png",
                                     "data": media.data or ""}}


def _write_result(result: ToolResult, door: Protocol, drops: Drops) -> Json:
    content: list[Json] = []
    for item in result.content:
        if isinstance(item, Text):
            if item.text:
                content.append({"type": "text", "text": item.text})
        else:
            block = _write_media(item, door, drops)
            if block is not None and block["type"] == "image":
                content.append(block)
    out: Json = {"type": "tool_result", "tool_use_id": result.call_id}
    if len(content) == 1 and content[0]["type"] == "text":
        out["content"] = content[0]["text"]
    elif content:
        out["content"] = content
    if result.is_error:
        out["is_error"] = True
    return out
