"""The benchmark's Markdown: issue 9's targets with the measured ratios, then the detail tables."""

from __future__ import annotations

import math
import re
from pathlib import Path

from bench import scenarios as sc
from bench.results import Results

BEGIN, END = "<!-- bench:latest:begin -->", "<!-- bench:latest:end -->"


def _num(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators, or – when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _mb(value: int | None) -> str:
    return "–" if not value else f"{value / 1024 / 1024:,.0f} MB"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("✅ met" if ok else "❌ not met")


def _targets(r: Results) -> list[str]:
    rows: list[tuple[str, str, bool | None]] = []
    jc, j1, s32, s1 = r.json_c32, r.json_c1, r.sse_c32, r.sse_c1
    gw, bare = jc.get(sc.GATEWAY), jc.get(sc.BARE)
    if gw and bare:
        share = gw.rate / bare.rate
        rows.append(("non-streaming throughput ≥ 70% of the bare proxy's (c=32)",
                     f"{share:.0%} ({_num(gw.rate)} vs {_num(bare.rate)} req/s); by CPU per request, "
                     f"which other load on the machine moves less: {bare.cpu_us / gw.cpu_us:.0%}",
                     share >= 0.70))
        cpu = gw.cpu_us / bare.cpu_us
        rows.append(("CPU per request ≤ 1.4× the bare proxy's",
                     f"{cpu:.2f}× ({_num(gw.cpu_us)} vs {_num(bare.cpu_us)} µs)", cpu <= 1.4))
    g1, d1 = j1.get(sc.GATEWAY), j1.get(sc.DIRECT)
    if g1 and d1:
        p50 = g1.wrk.p50_ms - d1.wrk.p50_ms
        p99 = g1.wrk.p99_ms - d1.wrk.p99_ms
        rows.append(("added latency over direct at c=1: p50 ≤ 0.6 ms", f"{p50:+.2f} ms", p50 <= 0.6))
        rows.append(("added latency over direct at c=1: p99 ≤ 3 ms", f"{p99:+.2f} ms", p99 <= 3.0))
    gs, bs = s1.get(sc.GATEWAY), s1.get(sc.BARE)
    if gs and bs:
        delta = gs.ttfb_p50 - bs.ttfb_p50
        rows.append(("streaming TTFB within 1 ms of the bare proxy's (p50, c=1)", f"{delta:+.2f} ms",
                     delta <= 1.0))
    chunk = _chunk_cost(r, sc.GATEWAY)
    if chunk is not None:
        rows.append(("per-chunk relay cost ≤ 20 µs (gateway CPU, paced stream)", f"{chunk:.1f} µs",
                     chunk <= 20))
    ts, ps = s32.get(sc.TO_ANTHROPIC), s32.get(sc.GATEWAY)
    if ts and ps:
        share = ts.rate / ps.rate
        gem = s32.get(sc.TO_GEMINI)
        extra = f"; → gemini {gem.rate / ps.rate:.0%}" if gem else ""
        by_cpu = f"; by CPU per stream: → anthropic {ps.cpu_us / ts.cpu_us:.0%}" + (
            f", → gemini {ps.cpu_us / gem.cpu_us:.0%}" if gem else "")
        rows.append(("translated streams ≥ 50% of pass-through streams/s",
                     f"→ anthropic {share:.0%} ({_num(ts.rate)} vs {_num(ps.rate)}/s){extra}{by_cpu}",
                     share >= 0.5))
    idle = r.rss_idle.get("gateway")
    if idle:
        rows.append(("RSS ≤ 100 MB idle (after warm-up)", _mb(idle), idle <= 100 * 2**20))
    held = r.hold.get(sc.GATEWAY)
    if held:
        label = f"RSS ≤ 250 MB with 1,000 concurrent open streams (measured with {held.streams:,})"
        rows.append((label, _mb(held.rss_all_open), held.rss_all_open <= 250 * 2**20 if held.streams >= 1000
                     else None))
    if r.ledger_pairs_per_s and gw:
        peak = max(load.rate for label, load in jc.items() if sc.server_of(label) == "gateway")
        rows.append(("ledger alone sustains the gateway's peak rate (hold + settle + log row)",
                     f"{_num(r.ledger_pairs_per_s)}/s = {r.ledger_pairs_per_s / peak:.1f}× the gateway's "
                     f"{_num(peak)} req/s", r.ledger_pairs_per_s >= peak))
    out = ["| target (issue 9) | measured | |", "|---|---|---|"]
    out += [f"| {what} | {value} | {_met(ok)} |" for what, value, ok in rows]
    return out


def _chunk_cost(r: Results, label: str) -> float | None:
    """Marginal CPU per relayed chunk: (CPU per paced stream − CPU per non-streaming call) / chunks."""
    paced, plain = r.paced.get(label), r.json_c32.get(label)
    if paced is None or plain is None:
        return None
    return (paced.load.cpu_us - plain.cpu_us) / paced.chunks_per_stream


def _errors(load: object) -> str:
    failed = getattr(getattr(load, "wrk", None), "failed", 0)
    return str(failed) if failed else "0"


def _non_streaming(r: Results) -> list[str]:
    direct = r.json_c1.get(sc.DIRECT)
    out = ["| route | req/s (c=32) | server CPU µs/req | of which main thread | p50 ms (c=1) | p99 ms (c=1) "
           "| added p50 / p99 ms | server CPU µs/req (c=1) | failed |", "|" + "---|" * 9]
    for label in (*sc.LABELS, sc.ON_TMPFS):
        tput, lat = r.json_c32.get(label), r.json_c1.get(label)
        if tput is None and lat is None:
            continue
        added = "–"
        if lat and direct and label != sc.DIRECT:
            added = f"{lat.wrk.p50_ms - direct.wrk.p50_ms:+.2f} / {lat.wrk.p99_ms - direct.wrk.p99_ms:+.2f}"
        out.append(f"| {label} | {_num(tput.rate if tput else None)} | "
                   f"{_num(tput.cpu_us if tput else None)} | {_num(tput.loop_cpu_us if tput else None)} | "
                   f"{_num(lat.wrk.p50_ms if lat else None, 3)} | "
                   f"{_num(lat.wrk.p99_ms if lat else None, 3)} | {added} | "
                   f"{_num(lat.cpu_us if lat else None)} | {_errors(tput)} |")
    return out


def _streaming(r: Results) -> list[str]:
    out = ["| route | streams/s (c=32) | server CPU µs/stream | of which main thread "
           "| TTFB p50 / p99 ms (c=1) | total p50 / p99 ms (c=1) | failed |", "|" + "---|" * 7]
    for label in sc.LABELS:
        load, one = r.sse_c32.get(label), r.sse_c1.get(label)
        ttfb = f"{one.ttfb_p50:.3f} / {one.ttfb_p99:.3f}" if one else "–"
        total = f"{one.total_p50:.3f} / {one.total_p99:.3f}" if one else "–"
        out.append(f"| {label} | {_num(load.rate if load else None)} | "
                   f"{_num(load.cpu_us if load else None)} | {_num(load.loop_cpu_us if load else None)} | "
                   f"{ttfb} | {total} | {_errors(load)} |")
    return out


def _paced(r: Results) -> list[str]:
    out = ["| route | streams/s | chunks/s | server CPU µs/stream | CPU µs/chunk (all in) | "
           "marginal µs/chunk | failed |", "|---|---|---|---|---|---|---|"]
    for label, paced in r.paced.items():
        marginal = _chunk_cost(r, label)
        chunks = paced.load.rate * paced.chunks_per_stream
        out.append(f"| {label} | {_num(paced.load.rate)} | {_num(chunks)} | {_num(paced.load.cpu_us)} | "
                   f"{_num(paced.cpu_per_chunk_us, 1)} | {_num(marginal, 1)} | "
                   f"{_errors(paced.load)} |")
    return out


def _ratios(r: Results) -> list[str]:
    out = ["| measure | gateway / bare proxy | gateway / direct |", "|---|---|---|"]

    def row(what: str, table: dict, attr: str) -> None:  # type: ignore[type-arg]
        g, b, d = table.get(sc.GATEWAY), table.get(sc.BARE), table.get(sc.DIRECT)
        gv = getattr(g, attr, None) if g else None
        out.append(f"| {what} | {_x(_ratio(gv, getattr(b, attr, None) if b else None))} | "
                   f"{_x(_ratio(gv, getattr(d, attr, None) if d else None))} |")

    row("non-streaming req/s (c=32)", r.json_c32, "rate")
    row("non-streaming CPU per request", r.json_c32, "cpu_us")
    row("streams/s (c=32)", r.sse_c32, "rate")
    row("CPU per stream", r.sse_c32, "cpu_us")
    row("stream TTFB p50 (c=1)", r.sse_c1, "ttfb_p50")
    return out


def _memory(r: Results) -> list[str]:
    out = ["| server | RSS idle (warm) | RSS peak over the run | RSS with N open streams "
           "| N streams: ok / failed |", "|---|---|---|---|---|"]
    for name, label in (("upstream", None), ("bare", sc.BARE), ("gateway", sc.GATEWAY)):
        held = r.hold.get(label) if label else None
        streams = f"{held.finished:,} / {held.failed:,}" if held else "–"
        out.append(f"| {name} | {_mb(r.rss_idle.get(name))} | {_mb(r.rss_peak.get(name))} | "
                   f"{_mb(held.rss_all_open) if held else '–'} | {streams} |")
    return out


def render(r: Results) -> str:
    plan = r.settings.get("plan")
    lines = [f"## Benchmark {r.started} UTC ({r.mode}, {r.seconds:.0f} s)", "",
             "Machine: " + "; ".join(f"{k}: {v}" for k, v in r.machine.items()), "",
             "Load: wrk (Debian) with a Lua script rotating the 100 tokens' keys, one thread, keep-alive; "
             "TTFB and open streams with bench/client.py (asyncio). Every server is its own process, nothing "
             "pinned; upstream, proxy, gateway and wrk share the cores. Server CPU is utime+stime from "
             "/proc/<pid>/stat over the run.", "", f"Plan: `{plan}`", "",
             "### Targets", "", *_targets(r), "",
             "### Ratios", "", *_ratios(r), "",
             "### Non-streaming (OpenAI chat JSON, 20-word answer)", "", *_non_streaming(r), "",
             "### Streaming (20 content chunks + usage, sent as one burst)", "", *_streaming(r), "",
             "### Paced streams (each chunk its own read and write)", "", *_paced(r), "",
             "### Memory", "", *_memory(r), ""]
    overhead = r.overhead_header_ms
    if overhead:
        ordered = sorted(overhead)
        lines += [f"Server-side `x-gateway-overhead-ms` at c=1: p50 {ordered[len(ordered) // 2]:.3f} ms, "
                  f"p99 {ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]:.3f} ms.", ""]
    else:
        lines += ["Server-side `x-gateway-overhead-ms`: not sent by this gateway build.", ""]
    if r.ledger_pairs_per_s:
        lines += [f"Ledger alone (scripts/bench_ledger.py, 200 callers): {_num(r.ledger_pairs_per_s)} "
                  "hold+settle+log-row per second.", ""]
    if r.ledger_check:
        lines += [f"Gateway ledger after the run: {r.ledger_check}", ""]
    if r.notes:
        lines += ["### Notes", "", *[f"- {n}" for n in r.notes], ""]
    if r.profiles:
        lines += ["### Profile (py-spy)", ""]
        for text in r.profiles.values():
            lines += [text, ""]
    return "\n".join(lines)


def update_docs(path: Path, text: str) -> None:
    """Replace the latest-run block of docs/benchmarks.md (created with a stub if missing)."""
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    current = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in current:
        current = current.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    updated = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, current, flags=re.S)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)
