"""JSON Schema to and from Gemini's Schema (an OpenAPI 3.0 subset), reporting every keyword not carried."""

from __future__ import annotations

from typing import Any

from gateway.translate.neutral import Drops, Json

# Keywords of the Gemini API Schema object (ai.google.dev/api/caching#Schema).
_GEMINI_KEYS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
                "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
                "maximum"}
# Formats the Gemini Developer API accepts, per type.
_GEMINI_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"},
                   "INTEGER": {"int32", "int64"}}
_MAX_DEPTH = 32


def to_gemini(schema: Any, drops: Drops, where: str) -> Json:
    """`schema` (JSON Schema) as a Gemini Schema; dropped keywords are reported as `where.keyword`
    (a schema that is not an object at all as `where`)."""
    if not isinstance(schema, dict):
        drops.add(where)
        return {}
    defs: Json = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _to_gemini(schema, defs, drops, where, 0)


def _resolve(ref: str, defs: Json) -> Json | None:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            found = defs.get(ref[len(prefix):])
            return found if isinstance(found, dict) else None
    return None


def _to_gemini(schema: Any, defs: Json, drops: Drops, where: str, depth: int) -> Json:
    if not isinstance(schema, dict):
        return {}
    if depth > _MAX_DEPTH:
        drops.add(f"{where}.$ref")
        return {}
    if "$ref" in schema:
        target = _resolve(str(schema["$ref"]), defs)
        if target is None:
            drops.add(f"{where}.$ref")
            return {}
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _to_gemini(merged, defs, drops, where, depth + 1)
    every = schema.get("allOf")
    if isinstance(every, list) and len(every) == 1 and isinstance(every[0], dict):
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return _to_gemini({**every[0], **rest}, defs, drops, where, depth + 1)
    out: Json = {}
    for key, value in schema.items():
        if key in ("$defs", "definitions"):
            continue
        if key == "type":
            _put_type(out, value, drops, where)
        elif key == "const":
            if isinstance(value, str):
                out["enum"] = [value]
            else:
                drops.add(f"{where}.const")
        elif key == "enum":
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out["enum"] = list(value)
            else:
                drops.add(f"{where}.enum")
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _to_gemini(sub, defs, drops, where, depth + 1)
                                 for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out["items"] = _to_gemini(value, defs, drops, where, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            if key == "oneOf":
                drops.add(f"{where}.oneOf")  # carried as anyOf: exclusivity is lost
            out["anyOf"] = [_to_gemini(sub, defs, drops, where, depth + 1) for sub in value]
        elif key in _GEMINI_KEYS and key != "format":
            out[key] = value
        elif key != "format":
            drops.add(f"{where}.{key}")
    fmt = schema.get("format")
    if fmt is not None:
        if isinstance(fmt, str) and fmt in _GEMINI_FORMATS.get(str(out.get("type")), set()):
            out["format"] = fmt
        else:
            drops.add(f"{where}.format")
    return out


def _put_type(out: Json, value: Any, drops: Drops, where: str) -> None:
    types = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    concrete = [t for t in types if t != "null"]
    if len(concrete) < len(types):
        out["nullable"] = True
    if len(concrete) == 1:
        out["type"] = str(concrete[0]).upper()
    elif len(concrete) > 1:
        out["anyOf"] = [{"type": str(t).upper()} for t in concrete]
    elif not types:
        drops.add(f"{where}.type")


def top_level_parameters(schema: Json | None, drops: Drops, where: str) -> Json | None:
    """A tool's parameters for Gemini: none at all when the object has no properties (Gemini refuses
    an OBJECT with empty properties)."""
    if not schema:
        return None
    converted = to_gemini(schema, drops, where)
    if converted.get("type") == "OBJECT" and not converted.get("properties"):
        return None
    return converted


def closed_objects(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` on every object that does not say otherwise, as
    Anthropic's structured outputs require (its SDK closes objects the same way)."""
    if isinstance(schema, list):
        return [closed_objects(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("items", "anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = closed_objects(out[key])
    for key in ("properties", "$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {name: closed_objects(sub) for name, sub in out[key].items()}
    if (out.get("type") == "object" or "properties" in out) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def from_gemini(schema: Any, drops: Drops, where: str) -> Json:
    """A Gemini Schema as JSON Schema (lower-case types, `nullable` as a "null" type)."""
    if not isinstance(schema, dict):
        return {}
    out: Json = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out["type"] = value.lower()
        elif key == "nullable":
            continue
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {n: from_gemini(s, drops, where) for n, s in value.items()}
        elif key == "items":
            out["items"] = from_gemini(value, drops, where)
        elif key == "anyOf" and isinstance(value, list):
            out["anyOf"] = [from_gemini(s, drops, where) for s in value]
        elif key in ("propertyOrdering", "example"):
            drops.add(f"{where}.{key}")
        else:
            out[key] = value
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        else:
            drops.add(f"{where}.nullable")
    return out
