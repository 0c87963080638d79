"""Checks that a body or stream event has the shape the official SDKs define (no invented fields).

google-genai models forbid unknown fields themselves; openai and anthropic models accept them, so
after validating we walk the parsed model and list every field the SDK does not define.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic.types as an
import openai.types.chat as oa
from anthropic.types import message_create_params as an_params
from google.genai import types as ge
from openai.types.chat import completion_create_params as oa_params
from pydantic import BaseModel, TypeAdapter

from gateway.protocols import Protocol

# The one field we add on purpose: where OpenAI-compatible servers (DeepSeek, vLLM) put reasoning text.
OPENAI_EXTENSIONS = {"reasoning_content"}
# Sampling fields the Messages API accepts that anthropic 2.x's request types no longer list.
ANTHROPIC_REQUEST_EXTRAS = {"temperature", "top_p", "top_k", "stream"}


def unknown_fields(model: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(model, BaseModel):
        found += [f"{path}.{k}" for k in (model.model_extra or {})]
        for name in type(model).model_fields:
            found += unknown_fields(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for i, item in enumerate(model):
            found += unknown_fields(item, f"{path}[{i}]")
    elif isinstance(model, dict):
        for key, item in model.items():
            found += unknown_fields(item, f"{path}.{key}")
    return found


def _strict(model: Any, allowed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    extra = [f for f in unknown_fields(model) if f.rsplit(".", 1)[-1] not in allowed]
    assert not extra, f"fields the SDK does not define: {extra}"


def check_response(proto: Protocol, body: Any) -> None:
    if proto is Protocol.OPENAI:
        _strict(oa.ChatCompletion.model_validate(body), OPENAI_EXTENSIONS)
    elif proto is Protocol.ANTHROPIC:
        _strict(an.Message.model_validate(body))
    else:
        ge.GenerateContentResponse.model_validate(body)


def check_error(proto: Protocol, body: Any) -> None:
    if proto is Protocol.ANTHROPIC:
        _strict(an.ErrorResponse.model_validate(body))
    elif proto is Protocol.OPENAI:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    else:
        assert set(body) == {"error"} and set(body["error"]) <= {"code", "message", "status", "details"}
        assert isinstance(body["error"]["code"], int)


_ANTHROPIC_EVENT: TypeAdapter[Any] = TypeAdapter(an.RawMessageStreamEvent)


def check_stream_event(proto: Protocol, name: str | None, data: str) -> None:
    if proto is Protocol.OPENAI:
        if data == "[DONE]":
            return
        payload = json.loads(data)
        if "error" in payload:
            check_error(proto, payload)
            return
        _strict(oa.ChatCompletionChunk.model_validate(payload), OPENAI_EXTENSIONS)
    elif proto is Protocol.ANTHROPIC:
        payload = json.loads(data)
        assert name == payload["type"], "Anthropic names every event after its type"
        if name == "error":
            _strict(an.ErrorResponse.model_validate(payload))
        elif name != "ping":
            _strict(_ANTHROPIC_EVENT.validate_python(payload))
    else:
        payload = json.loads(data)
        if "error" in payload:
            check_error(proto, payload)
        else:
            ge.GenerateContentResponse.model_validate(payload)


_OPENAI_REQUEST: TypeAdapter[Any] = TypeAdapter(oa_params.CompletionCreateParams)
_ANTHROPIC_REQUEST: TypeAdapter[Any] = TypeAdapter(an_params.MessageCreateParams)
_GEMINI_PIECES: dict[str, TypeAdapter[Any]] = {
    "contents": TypeAdapter(list[ge.Content]), "systemInstruction": TypeAdapter(ge.Content),
    "tools": TypeAdapter(list[ge.Tool]), "toolConfig": TypeAdapter(ge.ToolConfig),
    "generationConfig": TypeAdapter(ge.GenerationConfig)}


def _consume(value: Any) -> None:
    """Walk a validated request: pydantic validates `Iterable` fields only as they are iterated."""
    if isinstance(value, dict):
        for item in value.values():
            _consume(item)
    elif isinstance(value, list | tuple) or (hasattr(value, "__iter__") and hasattr(value, "__next__")):
        for item in value:
            _consume(item)


def check_request(proto: Protocol, body: dict[str, Any]) -> None:
    """Top-level fields known to the SDK's request type, and the whole body valid against it."""
    if proto is Protocol.OPENAI:
        known = set(oa_params.CompletionCreateParamsBase.__annotations__) | {"stream"}
        assert set(body) <= known, set(body) - known
        _consume(_OPENAI_REQUEST.validate_python(body))
    elif proto is Protocol.ANTHROPIC:
        known = set(an_params.MessageCreateParamsBase.__annotations__) | ANTHROPIC_REQUEST_EXTRAS
        assert set(body) <= known, set(body) - known
        _consume(_ANTHROPIC_REQUEST.validate_python(body))
    else:
        assert set(body) <= set(_GEMINI_PIECES), set(body) - set(_GEMINI_PIECES)
        for key, adapter in _GEMINI_PIECES.items():
            if key in body:
                adapter.validate_python(body[key])
