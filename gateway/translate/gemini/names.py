"""Gemini request field names in one spelling: lowerCamelCase, as the readers expect (pure).

Gemini's JSON parser takes a field's proto name (`mime_type`) as well as its JSON name (`mimeType`),
and google-genai sends a mix: top-level fields in camelCase, nested ones often in snake_case
(`inlineData: {mime_type}`, `parameters_json_schema`, `thinkingConfig: {thinking_budget}`). Readers
see only the camelCase spelling once a body went through `camel_request`.

What the caller wrote as data keeps its keys: function-call `args`, function-response `response`,
JSON Schemas (`parametersJsonSchema`, `responseJsonSchema`), property names inside a Gemini Schema's
`properties`, and schema `example`/`default` values.
"""

from __future__ import annotations

import re
from typing import Any

Json = dict[str, Any]

_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_OPAQUE = frozenset({"args", "parametersJsonSchema", "responseJsonSchema", "_responseJsonSchema", "labels"})
_SCHEMAS = frozenset({"parameters", "responseSchema"})
_SCHEMA_DATA = frozenset({"example", "default", "enum", "required", "propertyOrdering"})


def camel(name: str) -> str:
    """`mime_type` -> `mimeType`; names that are not lower snake_case are left as they are."""
    if not _SNAKE.fullmatch(name):
        return name
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def camel_request(body: Json) -> Json:
    """A copy of a Gemini request body with every proto field name in camelCase. Where a body spells
    one field both ways, the camelCase one is kept."""
    return _object(body, "")


def _renamed(value: Json) -> list[tuple[str, Any]]:
    out = []
    for key, item in value.items():
        name = camel(key) if isinstance(key, str) else key
        if name != key and name in value:
            continue
        out.append((name, item))
    return out


def _object(value: Json, where: str) -> Json:
    out: Json = {}
    for name, item in _renamed(value):
        if name in _OPAQUE or (name == "response" and where == "functionResponse"):
            out[name] = item
        elif name in _SCHEMAS or (name == "response" and where == "functionDeclarations"):
            out[name] = _schema(item)
        else:
            out[name] = _any(item, name)
    return out


def _any(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return _object(value, where)
    if isinstance(value, list):
        return [_any(item, where) for item in value]
    return value


def _schema(value: Any) -> Any:
    """A Gemini Schema: its own field names camelCased, property names and literal values kept."""
    if isinstance(value, list):
        return [_schema(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: Json = {}
    for name, item in _renamed(value):
        if name == "properties" and isinstance(item, dict):
            out[name] = {prop: _schema(sub) for prop, sub in item.items()}
        elif name in _SCHEMA_DATA:
            out[name] = item
        else:
            out[name] = _schema(item)
    return out
