"""Structured JSON logs: one structlog setup, the request id bound per call, secrets redacted."""

from __future__ import annotations

import asyncio
import atexit
import datetime
import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog

from gateway import fastjson

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


@dataclass(frozen=True)
class _Setup:
    """What `configure` installed, so the access line can take a shortcut while it is still in place."""

    processors: list[Any]
    renderer: Any
    redactor: Redactor
    stream: Any
    info_enabled: bool


_setup: _Setup | None = None


class LineBuffer:
    """A text stream that gathers what is written during one event-loop iteration and passes it on in
    one write at the start of the next: under load, one syscall for dozens of log lines instead of one
    each (and a flush each: stderr is line-buffered). Written outside a running loop (startup, other
    threads), text goes straight through, after what is buffered. A killed process loses at most one
    iteration of lines. A lock keeps a line written from another thread from slipping between the
    buffer's read and its reset."""

    FLUSH_AT = 64 * 1024

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._parts: list[str] = []
        self._size = 0
        self._scheduled = False
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: keep the order, then write through
            with self._lock:
                self._write_out("".join(self._take()) + text)
            return len(text)
        with self._lock:
            self._parts.append(text)
            self._size += len(text)
            full = self._size >= self.FLUSH_AT
        if full:
            self.flush_now()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self.flush_now)
        return len(text)

    def flush(self) -> None:
        """Deferred to the end of the iteration (callers such as print(flush=True) ask after every line)."""

    def flush_now(self) -> None:
        self._scheduled = False
        with self._lock:
            parts = self._take()
            if parts:
                self._write_out("".join(parts))

    def _take(self) -> list[str]:
        parts, self._parts, self._size = self._parts, [], 0
        return parts

    def _write_out(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not break a call
            pass


def configure(redactor: Redactor, *, level: str = "info", stream: Any = None) -> None:
    """Set up structlog to write one JSON object per line, every value passed through `redactor`.
    Without `stream`, lines go to stderr through a LineBuffer, flushed at exit too."""
    global _setup
    if stream is None:
        stream = LineBuffer(sys.stderr)
        atexit.register(stream.flush_now)
    renderer = structlog.processors.JSONRenderer()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redactor,
        renderer,
    ]
    threshold = logging.getLevelName(level.upper())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    _setup = _Setup(processors, renderer, redactor, stream, threshold <= logging.INFO)


def access(log: Any, request_id: str, **fields: Any) -> None:
    """The per-request access line: the line structlog would write (same fields, redacted the same
    way), built with one JSON dump instead of a processor chain, a fifth of the cost. While another
    configuration is active (a test capturing logs), it goes through structlog like any other line."""
    setup = _setup
    processors = structlog.get_config()["processors"]
    if setup is None or processors is not setup.processors or not processors \
            or processors[-1] is not setup.renderer:
        log.info("access", **fields)
        return
    if not setup.info_enabled:
        return
    line: dict[str, Any] = {"event": "access"}
    for key, value in fields.items():
        line[key] = setup.redactor._clean(key, value)
    line["request_id"] = setup.redactor.scrub(request_id)
    line["level"] = "info"
    line["timestamp"] = datetime.datetime.now(tz=datetime.UTC).isoformat().replace("+00:00", "Z")
    setup.stream.write(fastjson.dumps(line).decode() + "\n")
    setup.stream.flush()


def get_logger() -> Any:
    return structlog.get_logger("gateway")
