"""JSON on the hot path: orjson when it is installed (the `fast` extra), the standard library otherwise,
and the standard library for whatever orjson refuses, so the results never depend on which is there."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is optional
    orjson = None  # type: ignore[assignment]


def loads(data: bytes | str) -> Any:
    """Parse JSON; what orjson refuses but Python's json reads (NaN, integers past 64 bits) still parses,
    and invalid JSON raises json's ValueError."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes, non-ASCII characters unescaped (as json.dumps with
    ensure_ascii=False and no spaces would write it)."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:  # integers past 64 bits, non-string keys: json writes those
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
