"""Structured JSON logs: one structlog setup, the request id bound per call, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

# Things that look like credentials wherever they appear in a log value.
_SECRET_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-#!.]{6,}"),  # OpenAI-style and our own caller keys
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),
    re.compile(r"(?i)([?&](?:key|api_key|apikey)=)[^&\s\"']+"),
    re.compile(r"(?i)(//[^/\s:@]+:)[^@\s/]+(@)"),  # credentials inside URLs
)
# Every pattern above needs one of these substrings in the lower-cased text; checked first.
_TRIGGERS = ("sk-", "aiza", "bearer", "key", "@")
_SECRET_KEYS = {"authorization", "x-api-key", "x-goog-api-key", "api_key", "key", "keys",
                "admin_key", "password", "proxy-authorization"}


class Redactor:
    """structlog processor: masks known secrets and anything shaped like one, in every value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a key that contains another is masked whole.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))
        # One pass over the text for every known secret, longest first in the alternation.
        self._known = re.compile("|".join(map(re.escape, self._secrets))) if self._secrets else None

    def scrub(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub("***", text)
        lowered = text.lower()
        if not any(trigger in lowered for trigger in _TRIGGERS):
            return text  # nothing shaped like a credential: skip the patterns (the common case)
        for pattern in _SECRET_PATTERNS:
            if pattern.groups:
                text = pattern.sub(lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex == 2 else ""),
                                   text)
            else:
                text = pattern.sub("***", text)
        return text

    def _clean(self, key: str, value: Any) -> Any:
        if key.lower() in _SECRET_KEYS and value not in (None, ""):
            return "***"
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        if isinstance(value, BaseException):
            return self.scrub(f"{type(value).__name__}: {value}")
        return value

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            event_dict[key] = self._clean(key, value)
        return event_dict


def configure(redactor: Redactor, *, level: str = "info", stream: Any = None) -> None:
    """Set up structlog to write one JSON object per line, every value passed through `redactor`."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redactor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger() -> Any:
    return structlog.get_logger("gateway")
