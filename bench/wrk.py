"""Driving wrk (Debian's package): one closed-loop run, parsed from the line our Lua `done` hook prints."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from bench.requests import Request


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def available() -> str | None:
    return shutil.which("wrk")


def parse(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            v = line.split()[1:]
            n = [float(x) for x in v]
            return WrkResult(requests=int(n[0]), seconds=n[1] / 1e6,
                             errors={"connect": int(n[2]), "read": int(n[3]), "write": int(n[4]),
                                     "status": int(n[5]), "timeout": int(n[6])},
                             p50_ms=n[7] / 1000, p90_ms=n[8] / 1000, p99_ms=n[9] / 1000,
                             max_ms=n[10] / 1000, mean_ms=n[11] / 1000)
    raise RuntimeError(f"wrk printed no result line:\n{stdout[-2000:]}")


def run(request: Request, *, connections: int, seconds: float, threads: int = 1,
        timeout_s: float = 10.0) -> WrkResult:
    """`wrk -t<threads> -c<connections> -d<seconds>` with the request's Lua script."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
        script.write(request.lua())
        script.flush()
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                f"--timeout={timeout_s:g}s", "-s", script.name, f"http://127.0.0.1:{request.port}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse(done.stdout)
