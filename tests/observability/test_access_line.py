"""The access line's shortcut writes what structlog would, redacted the same way, and yields to captures."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from structlog.testing import capture_logs

from gateway import logs


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    yield None
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


PATH = "/v1/chat?key=AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&x=known-secret-1234"


def test_the_shortcut_line_equals_structlogs_line() -> None:
    buffer = io.StringIO()
    logs.configure(logs.Redactor(["known-secret-1234"]), stream=buffer)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="req-1")
    log = logs.get_logger()
    log.info("access", method="POST", path=PATH, status=200, ms=1.25)
    logs.access(log, "req-1", method="POST", path=PATH, status=200, ms=1.25)
    slow, fast = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert slow.pop("timestamp")[:10] == fast.pop("timestamp")[:10]
    assert fast == slow
    assert "AIza" not in fast["path"] and "known-secret" not in fast["path"]


def test_a_warning_level_log_has_no_access_line() -> None:
    buffer = io.StringIO()
    logs.configure(logs.Redactor(), level="warning", stream=buffer)
    logs.access(logs.get_logger(), "req-2", method="GET", path="/", status=200, ms=0.1)
    assert buffer.getvalue() == ""


def test_a_capture_sees_the_access_line() -> None:
    logs.configure(logs.Redactor(), stream=io.StringIO())
    with capture_logs() as captured:
        logs.access(logs.get_logger(), "req-3", method="GET", path="/", status=404, ms=0.1)
    assert [(e["event"], e["status"]) for e in captured] == [("access", 404)]
