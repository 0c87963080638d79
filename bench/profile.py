"""Sampling profiles of the gateway with py-spy, summarised as the frames that cost the most.

py-spy records with thread ids (`--threads`) and line numbers; the summary splits the event-loop thread (the
one that limits throughput: everything Python does per request runs there) from the other threads (the
ledger's SQLite writer and reader). py-spy's idle detection misses some waits, so stacks whose top frame is
a known wait (the selector's epoll, a thread pool worker's queue get) are counted as waiting, not as work.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_WAITS = {("EpollSelector.select", "selectors.py"), ("_worker", "concurrent/futures/thread.py"),
          ("Condition.wait", "threading.py"), ("SimpleQueue.get", "queue.py")}


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path, rate: int = 250) -> subprocess.Popen[bytes]:
    """Begin recording `pid` for `seconds` into `out` (collapsed stacks, one `a;b;c count` line each)."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    argv = [tool, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", str(rate),
            "--format", "raw", "--threads", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    _, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed ({proc.returncode}): {err.decode(errors='replace')[-1000:]}")


@dataclass(frozen=True)
class Frame:
    func: str
    file: str
    line: str

    @property
    def name(self) -> str:
        return f"{self.func} ({self.file})"


def parse_frame(text: str, root: str) -> Frame:
    match = _FRAME.match(text)
    if not match:
        return Frame(text, "?", "")
    path = match.group("file")
    if path.startswith(root):
        path = path[len(root):].lstrip("/")
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return Frame(match.group("func"), path, match.group("line") or "")


def area(frame: Frame) -> str:
    """gateway/<module or package>, or the top-level package of a library."""
    parts = frame.file.split("/")
    if parts[0] in ("gateway", "bench") and len(parts) > 1:
        return "/".join(parts[:2]).removesuffix(".py")
    return parts[0].removesuffix(".py") or "?"


@dataclass
class Part:
    """The samples of one group of threads."""

    samples: int = 0
    waiting: int = 0
    own: Counter[str] = field(default_factory=Counter)
    own_lines: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    total: Counter[str] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)

    @property
    def busy(self) -> int:
        return self.samples - self.waiting


@dataclass
class Summary:
    loop: Part
    others: Part


def summarise(collapsed: Path, root: str) -> Summary:
    loop, others = Part(), Part()
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        texts = [t for t in stack.split(";") if not t.startswith(("process ", "thread "))]
        if not texts:
            continue
        frames = [parse_frame(t, root) for t in texts]
        # asyncio's loop shows run_forever; uvloop's is C code below asyncio.Runner.run
        on_loop = any(f.func.endswith("run_forever") or f.func == "Runner.run" for f in frames)
        part = loop if on_loop else others
        part.samples += count
        leaf = frames[-1]
        if (leaf.func, leaf.file) in _WAITS:
            part.waiting += count
            continue
        part.own[leaf.name] += count
        part.own_lines[leaf.name][leaf.line] += count
        part.areas[area(leaf)] += count
        for name in {f.name for f in frames}:
            part.total[name] += count
    return Summary(loop, others)


def _table(rows: list[tuple[str, int]], what: str, busy: int, lines: dict[str, Counter[str]] | None = None,
           per_request_us: float | None = None, unit: str = "request") -> list[str]:
    """Rows of (frame, samples) as shares of `busy`, and as µs per request (or chunk) when the loop's CPU
    per request over the same run is known."""
    extra = f" ≈ µs/{unit} |" if per_request_us else ""
    out = [f"| # | {what} | share of busy samples |{extra}", "|---|---|---|" + ("---|" if extra else "")]
    for i, (name, count) in enumerate(rows, 1):
        hot = ""
        if lines is not None and lines.get(name):
            hot = " — hottest lines " + ", ".join(f":{n}" for n, _ in lines[name].most_common(2) if n)
        value = count / busy * per_request_us if per_request_us else 0.0
        us = f" {value:,.{1 if value < 10 else 0}f} |" if per_request_us else ""
        out.append(f"| {i} | `{name}`{hot} | {count / busy:.1%} |{us}")
    return out


def markdown(summary: Summary, title: str, top: int = 15, loop_us: float | None = None,
             unit: str = "request") -> str:
    """The summary as Markdown; `loop_us` is the event loop's CPU per request (or per `unit`) during the
    recording."""
    loop, others = summary.loop, summary.others
    if not loop.busy:
        return f"#### {title}\n\nno samples of the event loop\n"
    below = [(n, c) for n, c in loop.total.most_common() if c < loop.busy * 0.97]  # not the entry frames
    inclusive = below[:top]
    ours = [(n, c) for n, c in below if n.split("(", 1)[-1].startswith("gateway/")][:25]
    cost = (f" The event loop spent {loop_us:,.0f} µs of CPU per {unit} during this recording "
            "(py-spy pauses it while sampling); µs columns share that out. Samples are wall time: a thread "
            "that another process preempts counts where it stood, often just after a send that woke the "
            "receiver, so under contention `transport.write` is overstated.") if loop_us else ""
    lines = [f"#### {title}", "",
             f"Event-loop thread: {loop.samples} samples, {loop.busy} busy ({loop.waiting} waiting in "
             f"epoll). Other threads (ledger): {others.samples} samples, {others.busy} busy.{cost}", "",
             "Event loop, self time (top frame of the stack):", "",
             *_table(loop.own.most_common(top), "frame", loop.busy, loop.own_lines, loop_us, unit), "",
             "Event loop, self time by area:", "",
             *_table(loop.areas.most_common(12), "area", loop.busy, None, loop_us, unit), "",
             "Event loop, inclusive time of the gateway's own functions (the stages of a call):", "",
             *_table(ours, "frame", loop.busy, None, loop_us, unit), "",
             "Event loop, inclusive time (frame anywhere on the stack; frames on ≥97% of stacks left out):",
             "",
             *_table(inclusive, "frame", loop.busy), ""]
    if others.busy:
        lines += ["Other threads, self time:", "",
                  *_table(others.own.most_common(8), "frame", others.busy, others.own_lines), ""]
    return "\n".join(lines)
