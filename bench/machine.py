"""A description of the machine and software a benchmark ran on, for the report."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "?"


def load_average() -> str:
    """Other work on the machine competes for the same cores and disk; the report says how much there was:
    the 1-minute load average, and the share of the last minute in which some task waited for CPU or I/O
    (Linux pressure stall information, where the kernel has it)."""
    text = f"{os.getloadavg()[0]:.2f}"
    stalls = []
    for kind in ("cpu", "io"):
        try:
            some = Path(f"/proc/pressure/{kind}").read_text().splitlines()[0]
        except (OSError, IndexError):
            continue
        fields = dict(part.split("=") for part in some.split()[1:])
        stalls.append(f"{kind} {float(fields['avg60']):.0f}%")
    return text + (f" (stalled: {', '.join(stalls)})" if stalls else "")


def describe(root: Path) -> dict[str, str]:
    commit = _run(["git", "rev-parse", "--short", "HEAD"], root)
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no", "--", "gateway"], root)
    memory = _first("/proc/meminfo", "MemTotal")
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": _first("/proc/cpuinfo", "model name"),
        "memory": f"{int(memory.split()[0]) / 1024 / 1024:.1f} GiB" if memory[:1].isdigit() else memory,
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "aiohttp": _version("aiohttp"),
        "uvloop": _version("uvloop"),
        "orjson": _version("orjson"),
        "wrk": _run(["wrk", "-v"]).split(" Copyright")[0],
        "py-spy": _run([str(Path(sys.executable).with_name("py-spy")), "--version"]),
        "load": load_average(),
        "gateway commit": commit + (" (gateway/ modified)" if dirty not in ("", "?") else ""),
    }
