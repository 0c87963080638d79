"""What one benchmark run found, as plain data that the report turns into tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.wrk import WrkResult


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Load:
    """One wrk run against one server, with the server's CPU seconds over the same span."""

    wrk: WrkResult
    cpu_s: float
    loop_cpu_s: float | None = None  # the main thread's share (the event loop), when it was measured

    @property
    def loop_cpu_us(self) -> float | None:
        if self.loop_cpu_s is None or not self.wrk.requests:
            return None
        return self.loop_cpu_s / self.wrk.requests * 1e6

    @property
    def rate(self) -> float:
        return self.wrk.rate

    @property
    def cpu_us(self) -> float:
        """Server CPU per completed request, in microseconds."""
        return self.cpu_s / self.wrk.requests * 1e6 if self.wrk.requests else float("nan")


@dataclass
class Streams:
    """Sequential streams at concurrency 1: time to first body byte and to the end, in milliseconds."""

    ttfb_ms: list[float]
    total_ms: list[float]

    @property
    def ttfb_p50(self) -> float:
        return statistics.median(self.ttfb_ms)

    @property
    def ttfb_p99(self) -> float:
        return percentile(self.ttfb_ms, 99)

    @property
    def total_p50(self) -> float:
        return statistics.median(self.total_ms)

    @property
    def total_p99(self) -> float:
        return percentile(self.total_ms, 99)


@dataclass
class Paced:
    """Streams whose chunks arrive `pace_ms` apart: every chunk is its own read and write."""

    load: Load
    chunks_per_stream: int

    @property
    def cpu_per_chunk_us(self) -> float:
        return self.load.cpu_us / self.chunks_per_stream


@dataclass
class Hold:
    """Many streams open at once, and the server's RSS while they were."""

    streams: int
    finished: int
    failed: int
    rss_all_open: int  # the largest RSS sampled while every stream was open
    rss_peak: int
    errors: list[str] = field(default_factory=list)


@dataclass
class Results:
    started: str
    mode: str
    machine: dict[str, str]
    settings: dict[str, object]
    json_c32: dict[str, Load] = field(default_factory=dict)
    json_c1: dict[str, Load] = field(default_factory=dict)
    sse_c32: dict[str, Load] = field(default_factory=dict)
    sse_c1: dict[str, Streams] = field(default_factory=dict)
    paced: dict[str, Paced] = field(default_factory=dict)
    hold: dict[str, Hold] = field(default_factory=dict)
    rss_idle: dict[str, int] = field(default_factory=dict)
    rss_peak: dict[str, int] = field(default_factory=dict)
    overhead_header_ms: list[float] | None = None
    ledger_pairs_per_s: float | None = None
    ledger_check: str = ""
    profiles: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
