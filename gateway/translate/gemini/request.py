"""Gemini generateContent requests to and from the neutral model."""

from __future__ import annotations

from typing import Any

from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.translate import schema as schema_util
from gateway.translate.fields import GEN, read_sampling, write_sampling
from gateway.translate.gemini.names import camel_request
from gateway.translate.gemini.parts import read_content_parts, write_message_parts
from gateway.translate.neutral import (
    ChatRequest,
    Drops,
    Json,
    Message,
    Reasoning,
    ResponseFormat,
    Text,
    Tool,
    ToolChoice,
)
from gateway.translate.reasoning import budget_of
from gateway.translate.wire import RESPONSE_SCHEMA_WHERE, SCHEMA_WHERE, concept

GEMINI = Protocol.GEMINI
_MODE_IN = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
_MODE_OUT = {"auto": "AUTO", "required": "ANY", "none": "NONE", "named": "ANY"}
_JSON_MIME = "application/json"


# ---- Gemini -> neutral ---------------------------------------------------------------------------

def read_request(body: Json, drops: Drops) -> ChatRequest:
    rest = camel_request(body)  # google-genai sends nested fields in snake_case
    rest.pop("model", None)
    gen = dict(rest.pop(GEN, None) or {})
    rest[GEN] = gen
    req = ChatRequest(sampling=read_sampling(GEMINI, rest))
    contents = rest.pop("contents", None)
    if not isinstance(contents, list) or not contents:
        raise GatewayError("invalid_request", "contents must be a non-empty array", param="contents")
    system = rest.pop("systemInstruction", None)
    if isinstance(system, str):
        req.system = [Text(system)]
    elif isinstance(system, dict):
        req.system = [Text(str(p["text"])) for p in _listed(system.get("parts"))
                      if isinstance(p, dict) and isinstance(p.get("text"), str)]
    req.messages = read_content_parts(contents, drops)
    req.tools = _read_tools(_listed(rest.pop("tools", None)), drops)
    _read_tool_config(rest.pop("toolConfig", None), req, drops)
    req.response_format = _read_response_format(gen, drops)
    thinking = gen.pop("thinkingConfig", None)
    if isinstance(thinking, dict):
        req.reasoning = _read_thinking(thinking)
    if gen.get("responseModalities") in (["TEXT"], ["text"]):
        gen.pop("responseModalities")
    for key, value in gen.items():
        if value is not None:
            drops.add(f"{GEN}.{key}")
    rest.pop(GEN)
    for key, value in rest.items():
        if value is not None:
            drops.add(key)
    return req


def _listed(value: Any) -> list[Any]:
    """An array field's items; a caller's non-array there reads as empty."""
    return value if isinstance(value, list) else []


def _read_tools(tools: list[Any], drops: Drops) -> list[Tool]:
    out: list[Tool] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        for key in tool:
            if key != "functionDeclarations":
                drops.add(f"tools.{key}")
        for decl in _listed(tool.get("functionDeclarations")):
            if not isinstance(decl, dict):
                continue
            params = decl.get("parametersJsonSchema")
            if params is None and isinstance(decl.get("parameters"), dict):
                params = schema_util.from_gemini(decl["parameters"], drops, SCHEMA_WHERE[GEMINI])
            out.append(Tool(name=str(decl.get("name", "")), description=decl.get("description"),
                            parameters=params))
    return out


def _read_tool_config(config: Any, req: ChatRequest, drops: Drops) -> None:
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return
    mode = str(calling.get("mode", "AUTO")).upper()
    names = _listed(calling.get("allowedFunctionNames"))
    if mode == "VALIDATED":
        drops.add("toolConfig.functionCallingConfig.mode")
    if mode == "ANY" and len(names) == 1:
        req.tool_choice = ToolChoice("named", str(names[0]))
        return
    if names:
        drops.add(concept("allowed_function_names", GEMINI))
    if mode in _MODE_IN:
        req.tool_choice = ToolChoice(_MODE_IN[mode])  # type: ignore[arg-type]


def _read_response_format(gen: Json, drops: Drops) -> ResponseFormat | None:
    mime = gen.pop("responseMimeType", None)
    schema = gen.pop("responseJsonSchema", None)
    gemini_schema = gen.pop("responseSchema", None)
    if schema is None and isinstance(gemini_schema, dict):
        schema = schema_util.from_gemini(gemini_schema, drops, RESPONSE_SCHEMA_WHERE[GEMINI])
    if mime not in (None, "text/plain", _JSON_MIME):
        drops.add(f"{GEN}.responseMimeType")
    if mime != _JSON_MIME:
        return None
    return ResponseFormat("json_schema", schema=schema) if schema else ResponseFormat("json_object")


def _read_thinking(config: Json) -> Reasoning:
    budget = config.get("thinkingBudget")
    level = config.get("thinkingLevel")
    include = config.get("includeThoughts")
    return Reasoning(effort=str(level).lower() if isinstance(level, str) else None,
                     budget=budget if isinstance(budget, int) else None,
                     include_thoughts=include if isinstance(include, bool) else None)


# ---- neutral -> Gemini ---------------------------------------------------------------------------

def write_request(req: ChatRequest, door: Protocol, drops: Drops) -> Json:
    body: Json = {}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": p.text} for p in req.system]}
    body["contents"] = _write_contents(req.messages, door, drops)
    if req.tools:
        body["tools"] = [{"functionDeclarations": [_write_tool(t, door, drops) for t in req.tools]}]
    if req.tool_choice is not None:
        calling: Json = {"mode": _MODE_OUT[req.tool_choice.mode]}
        if req.tool_choice.mode == "named":
            calling["allowedFunctionNames"] = [req.tool_choice.name]
        body["toolConfig"] = {"functionCallingConfig": calling}
    if req.parallel_tool_calls is False and req.tools:
        drops.add(concept("parallel_tool_calls", door))
    if any(t.strict for t in req.tools):
        drops.add(concept("tool_strict", door))
    write_sampling(req.sampling, GEMINI, door, body, drops)
    gen: Json = body.pop(GEN, {})
    fmt = req.response_format
    if fmt is not None and fmt.kind != "text":
        gen["responseMimeType"] = _JSON_MIME
        if fmt.kind == "json_schema" and fmt.schema:
            gen["responseSchema"] = schema_util.to_gemini(fmt.schema, drops, RESPONSE_SCHEMA_WHERE[door])
        if fmt.strict:
            drops.add(concept("response_schema_strict", door))
    if req.reasoning is not None:
        budget = budget_of(req.reasoning)
        if budget is not None:
            config: Json = {"thinkingBudget": budget}
            include = req.reasoning.include_thoughts
            if budget != 0 and include is not False:
                config["includeThoughts"] = True  # so the caller's protocol can show the thinking
            gen["thinkingConfig"] = config
    if gen:
        body[GEN] = gen
    return body


def _write_contents(messages: list[Message], door: Protocol, drops: Drops) -> list[Json]:
    out: list[Json] = []
    for msg in messages:
        role = "model" if msg.role == "assistant" else "user"
        parts = write_message_parts(msg.parts, door, drops)
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)  # Gemini wants user and model turns to alternate
        else:
            out.append({"role": role, "parts": parts})
    return out


def _write_tool(tool: Tool, door: Protocol, drops: Drops) -> Json:
    decl: Json = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    params = schema_util.top_level_parameters(tool.parameters, drops, SCHEMA_WHERE[door])
    if params is not None:
        decl["parameters"] = params
    return decl

