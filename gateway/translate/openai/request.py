"""OpenAI chat/completions requests to and from the neutral model."""

from __future__ import annotations

from typing import Any

from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.translate import ids
from gateway.translate import media as media_util
from gateway.translate.fields import read_sampling, write_sampling
from gateway.translate.neutral import (
    ChatRequest,
    Drops,
    Json,
    Media,
    Message,
    Part,
    Reasoning,
    ResponseFormat,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from gateway.translate.reasoning import effort_of
from gateway.translate.wire import concept, text_of

OPENAI = Protocol.OPENAI
_IGNORED = ("model", "stream", "stream_options")
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}


# ---- OpenAI -> neutral ---------------------------------------------------------------------------

def read_request(body: Json, drops: Drops) -> ChatRequest:
    rest = dict(body)
    for key in _IGNORED:
        rest.pop(key, None)
    req = ChatRequest(sampling=read_sampling(OPENAI, rest))
    messages = rest.pop("messages", None)
    if not isinstance(messages, list) or not messages:
        raise GatewayError("invalid_request", "messages must be a non-empty array", param="messages")
    _read_messages(messages, req, drops)
    tools = rest.pop("tools", None)
    req.tools = [_read_tool(t, drops) for t in (tools if isinstance(tools, list) else [])
                 if _is_function_tool(t, drops)]
    req.tool_choice = _read_tool_choice(rest.pop("tool_choice", None), drops)
    parallel = rest.pop("parallel_tool_calls", None)
    if isinstance(parallel, bool):
        req.parallel_tool_calls = parallel
    req.response_format = _read_response_format(rest.pop("response_format", None))
    effort = rest.pop("reasoning_effort", None)
    if isinstance(effort, str):
        req.reasoning = Reasoning(effort=effort)
    for key, value in rest.items():
        if value is not None:
            drops.add(key)
    return req


def _read_messages(messages: list[Any], req: ChatRequest, drops: Drops) -> None:
    names: dict[str, str] = {}  # tool call id -> function name, for tool messages
    for msg in messages:
        if not isinstance(msg, dict):
            raise GatewayError("invalid_request", "each message must be an object", param="messages")
        role = msg.get("role")
        if msg.get("name") is not None:
            drops.add("messages.name")
        if role in ("system", "developer"):
            text = text_of(msg.get("content"))
            if text:
                req.system.append(Text(text))
        elif role == "user":
            _append(req.messages, "user", _read_user_content(msg.get("content"), drops))
        elif role == "assistant":
            parts = _read_assistant(msg, drops)
            for part in parts:
                if isinstance(part, ToolCall):
                    names[part.id] = part.name
            _append(req.messages, "assistant", parts)
        elif role == "tool":
            call_id = ids.split(str(msg.get("tool_call_id", "")))[0]
            result = ToolResult(call_id, names.get(call_id, ""), [Text(text_of(msg.get("content")))])
            _append(req.messages, "tool", [result])
        else:
            drops.add(f"messages.role.{role}")


def _append(messages: list[Message], role: Any, parts: list[Part]) -> None:
    """Adds a turn, merging it into the previous one of the same role."""
    if messages and messages[-1].role == role:
        messages[-1].parts.extend(parts)
    else:
        messages.append(Message(role, parts))


def _obj(value: Any) -> Json:
    """An object field as given; a caller's non-object there reads as empty."""
    return value if isinstance(value, dict) else {}


def _read_user_content(content: Any, drops: Drops) -> list[Part]:
    if isinstance(content, str):
        return [Text(content)]
    parts: list[Part] = []
    for item in content if isinstance(content, list) else []:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text":
            parts.append(Text(str(item.get("text", ""))))
        elif kind == "image_url":
            image = _obj(item.get("image_url"))
            if image.get("detail") not in (None, "auto"):
                drops.add("messages.content.image_url.detail")
            parts.append(media_util.from_url(str(image.get("url", ""))))
        elif kind == "input_audio":
            audio = _obj(item.get("input_audio"))
            data = audio.get("data")
            parts.append(Media(mime=f"audio/{audio.get('format', 'wav')}",
                               data=data if isinstance(data, str) else None))
        elif kind == "file" and isinstance(_obj(item.get("file")).get("file_data"), str):
            parts.append(media_util.from_url(item["file"]["file_data"]))
        else:
            drops.add(f"messages.content.{kind}")
    return parts


def _read_assistant(msg: Json, drops: Drops) -> list[Part]:
    parts: list[Part] = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.append(Thinking(reasoning, origin=OPENAI))
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            parts.append(Text(content))
    elif isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and item.get("type") in ("text", "refusal"):
                parts.append(Text(str(item.get("text") or item.get("refusal") or "")))
    if isinstance(msg.get("refusal"), str) and msg["refusal"]:
        parts.append(Text(msg["refusal"]))
    calls = msg.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id, signature = ids.split(str(call.get("id", "")))
        parts.append(ToolCall(call_id, str(function.get("name", "")), str(function.get("arguments") or ""),
                              signature))
    for key in ("function_call", "audio"):
        if msg.get(key) is not None:
            drops.add(f"messages.{key}")
    return parts


def _is_function_tool(tool: Any, drops: Drops) -> bool:
    if isinstance(tool, dict) and tool.get("type", "function") == "function":
        return True
    drops.add(f"tools.{tool.get('type') if isinstance(tool, dict) else 'invalid'}")
    return False


def _read_tool(tool: Json, drops: Drops) -> Tool:
    function = _obj(tool.get("function"))
    strict = function.get("strict")
    return Tool(name=str(function.get("name", "")), description=function.get("description"),
                parameters=function.get("parameters"), strict=strict if isinstance(strict, bool) else None)


def _read_tool_choice(choice: Any, drops: Drops) -> ToolChoice | None:
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        return ToolChoice("named", str(_obj(choice.get("function")).get("name", "")))
    if choice is not None:
        drops.add("tool_choice")
    return None


def _read_response_format(fmt: Any) -> ResponseFormat | None:
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "json_schema":
        spec = _obj(fmt.get("json_schema"))
        strict = spec.get("strict")
        return ResponseFormat("json_schema", schema=spec.get("schema"), name=spec.get("name"),
                              strict=strict if isinstance(strict, bool) else None)
    return None


# ---- neutral -> OpenAI ---------------------------------------------------------------------------

def write_request(req: ChatRequest, door: Protocol, drops: Drops, *, model: str, stream: bool) -> Json:
    body: Json = {"model": model, "messages": _write_messages(req, door, drops)}
    write_sampling(req.sampling, OPENAI, door, body, drops)
    if req.tools:
        body["tools"] = [_write_tool(t) for t in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = (req.tool_choice.mode if req.tool_choice.mode != "named" else
                               {"type": "function", "function": {"name": req.tool_choice.name}})
    if req.parallel_tool_calls is not None and req.tools:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    fmt = req.response_format
    if fmt is not None and fmt.kind == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif fmt is not None and fmt.kind == "json_schema":
        spec: Json = {"name": fmt.name or "response", "schema": fmt.schema or {}}
        if fmt.strict is not None:
            spec["strict"] = fmt.strict
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    if req.reasoning is not None:
        effort = effort_of(req.reasoning)
        if effort == "none":
            # Models without reasoning refuse the field; off is their default, so it is left out.
            drops.add(concept("reasoning", door))
        elif effort is not None:
            body["reasoning_effort"] = effort
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _write_messages(req: ChatRequest, door: Protocol, drops: Drops) -> list[Json]:
    out: list[Json] = []
    if req.system:
        texts = [p.text for p in req.system]
        out.append({"role": "system", "content": texts[0] if len(texts) == 1 else
                    [{"type": "text", "text": t} for t in texts]})
    for msg in req.messages:
        if msg.role == "tool":
            out.extend(_write_tool_results(msg.parts, door, drops))
        elif msg.role == "assistant":
            out.append(_write_assistant(msg.parts, door, drops))
        else:
            content = [c for c in (_write_user_part(p, door, drops) for p in msg.parts) if c]
            if len(content) == 1 and content[0]["type"] == "text":
                out.append({"role": "user", "content": content[0]["text"]})
            elif content:
                out.append({"role": "user", "content": content})
    return out


def _write_user_part(part: Part, door: Protocol, drops: Drops) -> Json | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, Media):
        if media_util.is_image(part):
            return {"type": "image_url", "image_url": {"url": media_util.data_url(part)}}
        if part.mime == "application/pdf" and part.data is not None:
            return {"type": "file", "file": {"file_data": media_util.data_url(part)}}
        if part.mime in _AUDIO_FORMATS and part.data is not None:
            return {"type": "input_audio", "input_audio": {"data": part.data,
                                                           "format": _AUDIO_FORMATS[part.mime]}}
        drops.add(concept("media", door))
    return None


def _write_assistant(parts: list[Part], door: Protocol, drops: Drops) -> Json:
    texts = [p.text for p in parts if isinstance(p, Text)]
    content: Any = None
    if len(texts) == 1:
        content = texts[0]
    elif texts:
        content = [{"type": "text", "text": t} for t in texts]
    msg: Json = {"role": "assistant", "content": content}
    calls = [p for p in parts if isinstance(p, ToolCall)]
    if calls:
        msg["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                             for c in calls]
    if any(isinstance(p, Thinking) and (p.text or p.signature) for p in parts):
        drops.add(concept("thinking", door))
    if any(isinstance(p, Media) for p in parts):
        drops.add(concept("media", door))
    return msg


def _write_tool_results(parts: list[Part], door: Protocol, drops: Drops) -> list[Json]:
    """One tool message per result. Tool messages hold text only, so images a tool returned follow
    in one user message, each introduced by the id of the call that returned it."""
    out: list[Json] = []
    images: list[Json] = []
    for part in parts:
        if not isinstance(part, ToolResult):
            continue
        if part.is_error:
            drops.add(concept("tool_result_error", door))
        text = "".join(c.text for c in part.content if isinstance(c, Text))
        out.append({"role": "tool", "tool_call_id": part.call_id, "content": text})
        media = [_write_user_part(c, door, drops) for c in part.content if isinstance(c, Media)]
        if any(media):
            images.append({"type": "text", "text": f"Images returned by tool call {part.call_id}:"})
            images.extend(m for m in media if m)
    if images:
        out.append({"role": "user", "content": images})
    return out


def _write_tool(tool: Tool) -> Json:
    function: Json = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}
