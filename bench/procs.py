"""Server processes for the benchmark, and what /proc says about them: RSS of a process tree, CPU seconds."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def raise_nofile() -> int:
    """Lift this process's open-file limit to its hard limit (1,000 streams need 2,000+ sockets)."""
    _raise_nofile()
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime of `pid` (all its threads), from /proc/<pid>/stat; of one thread with `thread`."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat"
    with open(path, "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5), after "pid (comm)"


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (by scanning /proc for parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


def tree_rss(pid: int, pids: Sequence[int] | None = None) -> int:
    total = 0
    for p in pids if pids is not None else descendants(pid):
        with contextlib.suppress(OSError):  # it exited meanwhile
            total += _rss_bytes(p)
    return total


@dataclass
class Server:
    """A benchmark server in its own process (its own session, so it is stopped as a group)."""

    name: str
    argv: list[str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    peak_rss: int = 0
    _tree: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                         preexec_fn=_raise_nofile)

    def wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}:\n"
                                   + self.log.read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within {timeout}s; "
                           f"see {self.log}")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def main_thread_cpu(self) -> float:
        """The main thread's CPU: for an asyncio server, the event loop (other threads: the ledger's)."""
        return cpu_seconds(self.pid, self.pid)

    def rss(self) -> int:
        """Current RSS of the process tree; also raises the recorded peak."""
        if not self._tree:
            self._tree = descendants(self.pid)
        value = tree_rss(self.pid, self._tree)
        self.peak_rss = max(self.peak_rss, value)
        return value

    def refresh_tree(self) -> None:
        self._tree = descendants(self.pid)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()


class Sampler:
    """Samples the RSS of every server every `interval` seconds in a thread, so peaks between phases count."""

    def __init__(self, servers: Sequence[Server], interval: float = 0.1) -> None:
        self.servers, self.interval = list(servers), interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(self.interval):
            ticks += 1
            for server in self.servers:
                try:
                    if ticks % 50 == 0:
                        server.refresh_tree()
                    server.rss()
                except OSError:
                    pass


def python() -> str:
    return sys.executable
