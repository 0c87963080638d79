"""The benchmark harness still works: its pieces on canned input, and a dry run that starts every server
and checks every route's answer without load. No timing is asserted anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import profile, replies, report, wrk
from bench import scenarios as sc
from bench.requests import Request, openai_body
from bench.results import Hold, Load, Paced, Results, Streams

ROOT = Path(__file__).resolve().parents[2]


def test_dry_run_starts_every_server_and_every_route_answers_correctly() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.run", "--dry-run"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "every route answers correctly" in done.stderr


def test_model_suffix_sets_chunks_and_pace() -> None:
    assert replies.shape_of("gpt-4o-mini", 20) == replies.Shape(20, 0.0)
    assert replies.shape_of("gpt-4o-mini-n200-p2.5", 20) == replies.Shape(200, 2.5)
    stream = replies.openai("m-n3", True, True, replies.shape_of("m-n3", 20))
    assert len(stream.steps) == 3 and b'"usage":{"prompt_tokens"' in stream.tail


def test_wrk_script_rotates_keys_and_its_summary_line_parses() -> None:
    request = Request(8080, "/v1/chat/completions", openai_body("gpt-4o-mini", False), ("k-1", "k-2"))
    lua = request.lua()
    assert '"k-1", "k-2"' in lua and 'local path = "/v1/chat/completions"' in lua and "BENCH-RESULT" in lua
    assert b"Authorization: Bearer k-2\r\n" in request.raw(1)
    result = wrk.parse("noise\nBENCH-RESULT 3000 2000000 0 0 0 5 0 900.0 1500.0 4000.0 9000.0 1000.5\n")
    assert result.requests == 3000 and result.rate == 1500 and result.errors["status"] == 5
    assert result.p50_ms == 0.9 and result.p99_ms == 4.0


def test_profile_summary_splits_the_event_loop_from_other_threads_and_skips_waits(tmp_path: Path) -> None:
    loop = "thread (0x1);main (gateway/cli.py:9);BaseEventLoop.run_forever (asyncio/base_events.py:593)"
    collapsed = tmp_path / "p.collapsed"
    collapsed.write_text(
        f"{loop};admit (gateway/pipeline.py:140) 30\n"
        f"{loop};EpollSelector.select (selectors.py:468) 50\n"
        f"{loop};handle (gateway/pipeline.py:160);dumps (json/__init__.py:231) 20\n"
        "thread (0x2);_worker (concurrent/futures/thread.py:81) 70\n"
        "thread (0x2);_worker (concurrent/futures/thread.py:83);apply_batch (gateway/ledger/writes.py:132) 10\n")
    summary = profile.summarise(collapsed, str(ROOT))
    assert (summary.loop.samples, summary.loop.busy) == (100, 50)
    assert summary.loop.own.most_common(1) == [("admit (gateway/pipeline.py)", 30)]
    assert summary.loop.total["handle (gateway/pipeline.py)"] == 20
    assert (summary.others.samples, summary.others.busy) == (80, 10)
    text = profile.markdown(summary, "t")
    assert "`admit (gateway/pipeline.py)` — hottest lines :140 | 60.0%" in text


def _load(requests: int, cpu_s: float, p50: float = 1.0, p99: float = 2.0) -> Load:
    return Load(wrk.WrkResult(requests, 1.0, {"status": 0}, p50, p50, p99, p99, p50), cpu_s)


def test_report_states_each_target_with_its_ratio() -> None:
    r = Results(started="t", mode="full", machine={"cores (nproc)": "2"}, settings={})
    r.json_c32 = {sc.DIRECT: _load(100_000, 1.0), sc.BARE: _load(60_000, 9.0), sc.GATEWAY: _load(45_000, 11.25)}
    r.json_c1 = {sc.DIRECT: _load(1, 0, 0.1, 0.5), sc.GATEWAY: _load(1, 0, 0.5, 4.0)}
    r.sse_c32 = {sc.GATEWAY: _load(10_000, 5.0), sc.TO_ANTHROPIC: _load(4_000, 5.0)}
    r.sse_c1 = {sc.BARE: Streams([0.2, 0.3, 0.4], [1, 1, 1]), sc.GATEWAY: Streams([0.5, 0.6, 0.7], [1, 1, 1])}
    r.paced = {sc.GATEWAY: Paced(_load(1_000, 1.0), 50)}  # 1000 µs per stream, 250 µs per call → 15 µs/chunk
    r.rss_idle = {"gateway": 60 * 2**20}
    r.hold = {sc.GATEWAY: Hold(1000, 1000, 0, 300 * 2**20, 310 * 2**20)}
    r.ledger_pairs_per_s = 9_000.0
    text = report.render(r)
    assert ("| non-streaming throughput ≥ 70% of the bare proxy's (c=32) | 75% (45,000 vs 60,000 req/s); "
            "by CPU per request, which other load on the machine moves less: 60% | ✅") in text
    assert "| CPU per request ≤ 1.4× the bare proxy's | 1.67× (250 vs 150 µs) | ❌" in text
    assert "p50 ≤ 0.6 ms | +0.40 ms | ✅" in text and "p99 ≤ 3 ms | +3.50 ms | ❌" in text
    assert "| +0.30 ms | ✅" in text and "| 15.0 µs | ✅" in text
    assert "→ anthropic 40% (4,000 vs 10,000/s); by CPU per stream: → anthropic 40% | ❌" in text
    assert "| 300 MB | ❌" in text and "0.2× the gateway's 45,000 req/s | ❌" in text
