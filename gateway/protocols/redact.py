"""Turning an upstream's error body into a short message that is safe to show a caller (no keys)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the translate package imports this module
    from gateway.translate.base import UpstreamFailure

MAX_MESSAGE_CHARS = 1000
REDACTED = "[redacted]"

# Shapes of secrets that upstream error texts are known to echo (OpenAI repeats a masked key; URLs carry
# Gemini's `?key=`), plus long opaque tokens in general. Replacements never contain quotes or
# backslashes and the matches stop before them, so scrubbing JSON text keeps it valid JSON.
_VALUE = r"[^\s&\"'\\,;)}\]]+"
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?i)\b(bearer|basic)\s+{_VALUE}"), rf"\1 {REDACTED}"),
    (re.compile(rf"(?i)((?:api[_-]?)?key\\?[\"']?\s*[=:]\s*\\?[\"']?){_VALUE}"), rf"\1{REDACTED}"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-*.]{3,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_\-*.]{8,}"), REDACTED),
    (re.compile(r"\bya29\.[0-9A-Za-z_\-.]+"), REDACTED),
    (re.compile(r"\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{40,}"), REDACTED),
)


def scrub_secrets(text: str) -> str:
    """`text` with anything shaped like a credential replaced by `[redacted]`."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def generic_message(status: int) -> str:
    return f"upstream returned HTTP {status}"


def find_message(parsed: Any) -> str | None:
    """The human message in any of the three providers' error shapes (and common compatible ones):
    `{"error": {"message": …}}`, `{"error": "…"}`, `{"message": …}`, `{"detail": "…"}`, or a list
    (Gemini's JSON-array streams) whose first element is one of those."""
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    if not isinstance(parsed, dict):
        return None
    error = parsed.get("error")
    if isinstance(error, dict):
        parsed = error
    elif isinstance(error, str) and error.strip():
        return error
    for key in ("message", "detail"):
        value = parsed.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def upstream_message(status: int, body: bytes) -> str:
    """The caller-safe message of an upstream error body: the provider's message if there is one, a
    short plain-text body as is, else (HTML pages, empty bodies) a generic text; secrets scrubbed."""
    text: str | None = None
    try:
        text = find_message(json.loads(body))
    except (ValueError, RecursionError):
        plain = body.decode("utf-8", "replace").strip()
        if plain and len(plain) <= 300 and not plain.startswith("<") and plain.isprintable():
            text = plain
    if text is None or not text.strip():
        return generic_message(status)
    text = scrub_secrets(text.strip())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "…"
    return text


def stream_failure(error: object, status_of: Callable[[Mapping[str, Any]], int]) -> UpstreamFailure | None:
    """The failure an in-stream `{"error": ...}` object reports (None when there is none), its message
    made safe to show a caller; `status_of` reads the protocol's own status fields."""
    if error is None:  # every chunk without an error: before the import below, which costs a lookup
        return None
    from gateway.translate.base import UpstreamFailure

    if not isinstance(error, Mapping):
        return UpstreamFailure(500, scrub_secrets(str(error)) or "upstream error")
    message = error.get("message")
    text = scrub_secrets(message) if isinstance(message, str) and message else "upstream error"
    return UpstreamFailure(status_of(error), text)
