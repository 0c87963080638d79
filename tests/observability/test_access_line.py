"""The access line's shortcut writes what structlog would, redacted the same way, and yields to captures."""

from __future__ import annotations

import asyncio
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


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_lines_written_in_one_loop_iteration_reach_the_stream_in_one_write_in_order() -> None:
    stream = CountingStream()
    logs.configure(logs.Redactor(), stream=logs.LineBuffer(stream))
    log = logs.get_logger()
    for i in range(20):
        log.info("event", n=i)
        logs.access(log, f"req-{i}", status=200)
    assert stream.getvalue() == ""  # held until the iteration ends
    await asyncio.sleep(0)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert stream.writes == 1
    assert [(line["event"], line.get("n", line.get("request_id"))) for line in lines] == [
        pair for i in range(20) for pair in (("event", i), ("access", f"req-{i}"))]


async def test_a_big_burst_is_written_before_it_grows_past_the_limit() -> None:
    stream = CountingStream()
    buffered = logs.LineBuffer(stream)
    for _ in range(3):
        buffered.write("x" * (logs.LineBuffer.FLUSH_AT // 2) + "\n")
    assert stream.writes == 1 and len(stream.getvalue()) > logs.LineBuffer.FLUSH_AT
    await asyncio.sleep(0)
    assert stream.writes == 2 and len(stream.getvalue()) == 3 * (logs.LineBuffer.FLUSH_AT // 2 + 1)


def test_outside_a_loop_lines_go_straight_through() -> None:
    stream = CountingStream()
    logs.configure(logs.Redactor(), stream=logs.LineBuffer(stream))
    logs.get_logger().info("starting")
    assert json.loads(stream.getvalue())["event"] == "starting"


async def test_lines_from_another_thread_are_never_lost() -> None:
    stream = CountingStream()
    buffered = logs.LineBuffer(stream)

    def from_thread() -> None:
        for i in range(2000):
            buffered.write(f"thread {i}\n")

    writer = asyncio.get_running_loop().run_in_executor(None, from_thread)
    for i in range(2000):
        buffered.write(f"loop {i}\n")
        if i % 50 == 0:
            await asyncio.sleep(0)
    await writer
    await asyncio.sleep(0)
    lines = stream.getvalue().splitlines()
    assert sorted(lines) == sorted([f"thread {i}" for i in range(2000)] + [f"loop {i}" for i in range(2000)])
    assert [line for line in lines if line.startswith("loop")] == [f"loop {i}" for i in range(2000)]
