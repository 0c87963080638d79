"""Sampling and limit fields as one table (name per protocol, bounds) and the interpreter that runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.protocols import Protocol
from gateway.translate.neutral import Drops, Json

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI
Path = tuple[str, ...]
GEN = "generationConfig"


@dataclass(frozen=True, slots=True)
class Field:
    """One neutral field: where each protocol keeps it, and the values each protocol accepts.

    `paths[p]` is None when protocol p has no such field; `aliases` are further names read (not
    written); `bounds[p]` is an inclusive (low, high) range, None for open; `default` is a value that
    carries no information, so its loss is not reported; `max_items` caps list lengths; `integer`
    fields are written as integers (google-genai sends `topK: 20.0`, Anthropic wants `top_k: 20`).
    """

    name: str
    paths: dict[Protocol, Path | None]
    aliases: dict[Protocol, tuple[Path, ...]] = field(default_factory=dict)
    bounds: dict[Protocol, tuple[float | None, float | None]] = field(default_factory=dict)
    default: Any = None
    max_items: dict[Protocol, int] = field(default_factory=dict)
    is_list: bool = False
    integer: bool = False


SAMPLING: tuple[Field, ...] = (
    Field("max_tokens", {OPENAI: ("max_completion_tokens",), ANTHROPIC: ("max_tokens",),
                         GEMINI: (GEN, "maxOutputTokens")},
          aliases={OPENAI: (("max_tokens",),)}, bounds={p: (0, None) for p in Protocol}, integer=True),
    Field("temperature", {OPENAI: ("temperature",), ANTHROPIC: ("temperature",),
                          GEMINI: (GEN, "temperature")},
          bounds={OPENAI: (0, 2), ANTHROPIC: (0, 1), GEMINI: (0, 2)}),
    Field("top_p", {OPENAI: ("top_p",), ANTHROPIC: ("top_p",), GEMINI: (GEN, "topP")},
          bounds={p: (0, 1) for p in Protocol}),
    Field("top_k", {OPENAI: None, ANTHROPIC: ("top_k",), GEMINI: (GEN, "topK")},
          bounds={ANTHROPIC: (0, None), GEMINI: (1, None)}, integer=True),
    Field("stop", {OPENAI: ("stop",), ANTHROPIC: ("stop_sequences",), GEMINI: (GEN, "stopSequences")},
          is_list=True, default=[], max_items={OPENAI: 4, GEMINI: 5}),
    Field("n", {OPENAI: ("n",), ANTHROPIC: None, GEMINI: (GEN, "candidateCount")},
          default=1, bounds={OPENAI: (1, 128), GEMINI: (1, 8)}, integer=True),
    Field("seed", {OPENAI: ("seed",), ANTHROPIC: None, GEMINI: (GEN, "seed")}, integer=True),
    Field("presence_penalty", {OPENAI: ("presence_penalty",), ANTHROPIC: None,
                               GEMINI: (GEN, "presencePenalty")}, default=0,
          bounds={OPENAI: (-2, 2), GEMINI: (-2, 2)}),
    Field("frequency_penalty", {OPENAI: ("frequency_penalty",), ANTHROPIC: None,
                                GEMINI: (GEN, "frequencyPenalty")}, default=0,
          bounds={OPENAI: (-2, 2), GEMINI: (-2, 2)}),
    Field("user", {OPENAI: ("user",), ANTHROPIC: ("metadata", "user_id"), GEMINI: None}),
)


def pop_path(body: Json, path: Path) -> Any:
    """Remove and return the value at `path` (None if absent); nested dicts must already be copies."""
    node: Any = body
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    return node.pop(path[-1], None)


def set_path(body: Json, path: Path, value: Any) -> None:
    node = body
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def read_sampling(proto: Protocol, body: Json) -> dict[str, Any]:
    """The table's fields found in `body` (popped from it), under their neutral names."""
    values: dict[str, Any] = {}
    for f in SAMPLING:
        path = f.paths.get(proto)
        if path is None:
            continue
        value = None
        for candidate in (path, *f.aliases.get(proto, ())):
            found = pop_path(body, candidate)
            if found is not None and value is None:
                value = found
        if value is None:
            continue
        if f.is_list and isinstance(value, str):
            value = [value]
        values[f.name] = value
    return values


def door_name(f: Field | str, door: Protocol) -> str:
    """The caller's name for a field of the table (given as a Field or by its neutral name)."""
    if isinstance(f, str):
        f = next(x for x in SAMPLING if x.name == f)
    path = f.paths.get(door)
    return ".".join(path) if path else f.name


def _in_bounds(value: Any, bounds: tuple[float | None, float | None] | None) -> bool:
    if bounds is None or isinstance(value, bool) or not isinstance(value, int | float):
        return True
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


def write_sampling(values: dict[str, Any], target: Protocol, door: Protocol, body: Json,
                   drops: Drops) -> None:
    """Put each value where `target` keeps it; report (by the caller's name) what does not fit."""
    for f in SAMPLING:
        if f.name not in values:
            continue
        value = values[f.name]
        path = f.paths.get(target)
        if value == f.default:
            continue
        if f.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        limit = f.max_items.get(target)
        if (path is None or not _in_bounds(value, f.bounds.get(target))
                or (f.integer and isinstance(value, float))
                or (limit is not None and isinstance(value, list) and len(value) > limit)):
            drops.add(door_name(f, door))
            continue
        set_path(body, path, value)
