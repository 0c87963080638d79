"""scripts/bench: start the fake upstream, the bare proxy and the gateway, measure them in one run, report.

Phases (each server in its own process; the load generator is wrk, plus a small asyncio client for what wrk
cannot see): check every route's answer; non-streaming throughput at concurrency 32 and latency at 1;
streaming throughput at 32 and time to first byte at 1; paced streams (CPU per relayed chunk); many streams
held open (RSS); a py-spy profile of the gateway; the ledger alone; the gateway's ledger after it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import checks, client, machine, procs, profile, report, wrk
from bench import scenarios as sc
from bench.config import write_config
from bench.results import Hold, Load, Paced, Results, Streams

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    warm: float
    throughput: float
    latency: float
    streams: float
    paced: float
    ttfb_count: int
    hold_streams: int
    hold_chunks: int
    hold_pace_ms: int
    ledger_calls: int
    profile: float
    paced_shape: str = "-n50-p5"

    @classmethod
    def full(cls) -> Plan:
        return cls(warm=1, throughput=8, latency=6, streams=8, paced=6, ttfb_count=300, hold_streams=1000,
                   hold_chunks=24, hold_pace_ms=500, ledger_calls=40000, profile=8)

    @classmethod
    def quick(cls) -> Plan:
        return cls(warm=0, throughput=1, latency=1, streams=1, paced=1, ttfb_count=40, hold_streams=200,
                   hold_chunks=5, hold_pace_ms=400, ledger_calls=4000, profile=1)


def _run_async(coro: Any) -> Any:
    try:
        import uvloop
        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, plan: Plan, workdir: Path, *, proxy_uvloop: bool) -> None:
        self.plan, self.workdir = plan, workdir
        self.ports = sc.Ports(procs.free_port(), procs.free_port(), procs.free_port())
        self.setup = write_config(workdir, port=self.ports.gateway,
                                  upstream=f"http://127.0.0.1:{self.ports.upstream}")
        py, upstream = procs.python(), f"http://127.0.0.1:{self.ports.upstream}"
        argvs = {
            "upstream": [py, "-m", "bench.upstreams", "--port", str(self.ports.upstream),
                         "--chunks", str(checks.WORDS)],
            "bare": [py, "-m", "bench.proxy", "--port", str(self.ports.bare), "--upstream", upstream,
                     *(["--uvloop"] if proxy_uvloop else [])],
            "gateway": [py, "-m", "gateway", "serve", "-c", str(self.setup.path)],
        }
        ports = {"upstream": self.ports.upstream, "bare": self.ports.bare, "gateway": self.ports.gateway}
        self.servers = {name: procs.Server(name, argv, ports[name], workdir / f"{name}.log")
                        for name, argv in argvs.items()}

    # ---- lifecycle
    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for server in self.servers.values():
            server.start(ROOT, env)
        for server in self.servers.values():
            server.wait_listening()

    def stop(self) -> dict[str, int | None]:
        return {name: server.stop() for name, server in self.servers.items()}

    def server(self, label: str) -> procs.Server:
        return self.servers[sc.server_of(label)]

    # ---- checks
    def check_routes(self) -> dict[str, str]:
        """One request per route and mode, answers checked; returns the gateway's overhead header if any."""
        seen: dict[str, str] = {}

        async def go() -> None:
            for label in sc.LABELS:
                for stream in (False, True):
                    answer = await client.one(sc.request(label, self.ports, stream=stream))
                    checks.check_openai(answer, stream=stream, route=f"{label} stream={stream}")
                    if "x-gateway-overhead-ms" in answer.headers:
                        seen[label] = answer.headers["x-gateway-overhead-ms"]
            for via_bare in (False, True):
                for stream in (False, True):
                    request = sc.anthropic_direct(self.ports, stream=stream, via_bare=via_bare)
                    answer = await client.one(request)
                    checks.check_anthropic(answer, stream=stream, route=f"anthropic via_bare={via_bare}")
            for label in (sc.BARE, sc.GATEWAY):  # paced and held shapes work end to end too
                shaped = sc.request(label, self.ports, stream=True, shape="-n3-p1")
                answer = await client.one(shaped)
                if answer.status != 200 or b"[DONE]" not in answer.body:
                    raise AssertionError(f"{label}: paced stream failed: {answer.status}")

        _run_async(go())
        return seen

    def warm_up(self) -> None:
        async def go() -> None:
            for label in sc.LABELS:
                for stream in (False, True):
                    await client.sequential(sc.request(label, self.ports, stream=stream), 50)

        _run_async(go())

    # ---- measurements
    def load(self, label: str, *, stream: bool, connections: int, seconds: float, shape: str = "") -> Load:
        request = sc.request(label, self.ports, stream=stream, shape=shape)
        if self.plan.warm:
            wrk.run(request, connections=connections, seconds=self.plan.warm)
        server = self.server(label)
        before = server.cpu()
        result = wrk.run(request, connections=connections, seconds=seconds)
        cpu = server.cpu() - before
        if result.failed:
            _say(f"  {label}: {result.failed} failed requests {result.errors}")
        return Load(result, cpu)

    def ttfb(self, label: str) -> Streams:
        request = sc.request(label, self.ports, stream=True)
        answers = _run_async(client.sequential(request, self.plan.ttfb_count))
        return Streams([a.ttfb * 1000 for a in answers], [a.total * 1000 for a in answers])

    def overhead_header(self) -> list[float]:
        answers = _run_async(client.sequential(sc.request(sc.GATEWAY, self.ports, stream=False),
                                               self.plan.ttfb_count))
        name = "x-gateway-overhead-ms"
        return [float(a.headers[name]) for a in answers if name in a.headers]

    def hold(self, label: str) -> Hold:
        plan = self.plan
        shape = f"-n{plan.hold_chunks}-p{plan.hold_pace_ms}"
        request = sc.request(label, self.ports, stream=True, shape=shape)
        server = self.server(label)
        held = client.Held(total=plan.hold_streams)
        best = {"open": -1, "rss": 0, "peak": 0}

        async def sample() -> None:
            while held.finished + held.failed < held.total:
                rss = server.rss()
                best["peak"] = max(best["peak"], rss)
                open_now = held.open_streams
                if open_now > best["open"]:
                    best["open"], best["rss"] = open_now, rss
                elif open_now == best["open"]:
                    best["rss"] = max(best["rss"], rss)
                await asyncio.sleep(0.1)

        async def go() -> None:
            await asyncio.gather(client.hold_streams(request, held), sample())

        server.refresh_tree()
        _run_async(go())
        if best["open"] < held.total:
            held.errors.append(f"at most {best['open']} of {held.total} streams were open at once")
        return Hold(streams=held.total, finished=held.finished, failed=held.failed, rss_all_open=best["rss"],
                    rss_peak=best["peak"], errors=held.errors)

    def profile(self, name: str, *, stream: bool) -> str:
        out = self.workdir / f"profile-{name}.collapsed"
        recorder = profile.start(self.server(sc.GATEWAY).pid, self.plan.profile, out)
        time.sleep(0.3)
        request = sc.request(sc.GATEWAY, self.ports, stream=stream)
        wrk.run(request, connections=32, seconds=self.plan.profile + 1)
        profile.finish(recorder)
        summary = profile.summarise(out, str(ROOT))
        title = f"gateway, {'streaming' if stream else 'non-streaming'} pass-through, wrk c=32"
        return profile.markdown(summary, title) + f"\nCollapsed stacks: `{out.name}`\n"

    def ledger_alone(self) -> float:
        argv = [procs.python(), str(ROOT / "scripts" / "bench_ledger.py"),
                "--calls", str(self.plan.ledger_calls), "--dir", str(self.workdir)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
        match = re.search(r"([\d,]+) hold\+settle pairs/s", done.stdout)
        if done.returncode != 0 or match is None:
            raise RuntimeError(f"scripts/bench_ledger.py failed: {done.stdout[-500:]} {done.stderr[-1500:]}")
        return float(match.group(1).replace(",", ""))


def _phase(results: Results, name: str, action: Callable[[], Any]) -> Any:
    started = time.monotonic()
    _say(name)
    try:
        return action()
    except Exception as exc:  # a failed phase is reported, the others still run
        results.notes.append(f"phase '{name}' failed: {type(exc).__name__}: {exc}")
        _say(f"  FAILED: {type(exc).__name__}: {exc}")
        return None
    finally:
        _say(f"  {time.monotonic() - started:.1f}s")


def measure(bench: Bench, results: Results, *, with_profile: bool) -> None:
    plan = bench.plan
    everyone = sc.LABELS
    one_each = (sc.DIRECT, sc.BARE, sc.GATEWAY, sc.TO_ANTHROPIC)
    for label in everyone:
        results.json_c32[label] = _phase(results, f"non-streaming c=32: {label}", partial(
            bench.load, label, stream=False, connections=32, seconds=plan.throughput))
    for label in one_each:
        results.json_c1[label] = _phase(results, f"non-streaming c=1: {label}", partial(
            bench.load, label, stream=False, connections=1, seconds=plan.latency))
    results.overhead_header_ms = _phase(results, "x-gateway-overhead-ms at c=1", bench.overhead_header)
    for label in everyone:
        results.sse_c32[label] = _phase(results, f"streaming c=32: {label}", partial(
            bench.load, label, stream=True, connections=32, seconds=plan.streams))
    for label in one_each:
        results.sse_c1[label] = _phase(results, f"streaming TTFB c=1: {label}", partial(bench.ttfb, label))
    chunks = int(plan.paced_shape.split("-n")[1].split("-")[0])
    for label in (sc.BARE, sc.GATEWAY, sc.TO_ANTHROPIC):
        load = _phase(results, f"paced streams {plan.paced_shape} c=32: {label}", partial(
            bench.load, label, stream=True, connections=32, seconds=plan.paced, shape=plan.paced_shape))
        results.paced[label] = Paced(load, chunks) if load else None  # type: ignore[assignment]
    for label in (sc.BARE, sc.GATEWAY):
        results.hold[label] = _phase(results, f"{plan.hold_streams} open streams: {label}",
                                     partial(bench.hold, label))
    if with_profile:
        for name, stream in (("json", False), ("sse", True)):
            if name == "sse" and results.mode == "quick":
                continue
            results.profiles[name] = _phase(results, f"py-spy profile ({name})",
                                            partial(bench.profile, name, stream=stream))
    for table in (results.json_c32, results.json_c1, results.sse_c32, results.sse_c1, results.paced,
                  results.hold, results.profiles):
        for key in [k for k, v in table.items() if v is None]:  # a failed phase leaves no entry
            del table[key]


def ledger_check(database: Path) -> str:
    """After the gateway stopped: every call has its row, no hold is left open, usage adds up."""
    import sqlite3  # noqa: TID251 - reading the finished run's ledger, read-only

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT outcome, count(*) FROM logs GROUP BY outcome ORDER BY 2 DESC").fetchall()
        held = db.execute("SELECT coalesce(sum(held), 0) FROM token_usage").fetchone()[0]
        open_holds = db.execute("SELECT count(*) FROM holds WHERE state = 'open'").fetchone()[0]
        mismatched = db.execute(
            "SELECT count(*) FROM token_usage u WHERE used != "
            "(SELECT coalesce(sum(quota), 0) FROM logs l WHERE l.token = u.token)").fetchone()[0]
    total = sum(n for _, n in rows)
    outcomes = ", ".join(f"{o} {n:,}" for o, n in rows)
    verdict = "ok" if not held and not open_holds and not mismatched else "BROKEN"
    return (f"{verdict}: {total:,} log rows ({outcomes}); open holds after stop: {open_holds}, "
            f"held quota: {held}, tokens whose used ≠ sum of their rows: {mismatched}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases (~30 s), for smoke testing")
    parser.add_argument("--dry-run", action="store_true",
                        help="start everything and check every route; no load")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--proxy-uvloop", action="store_true", help="run the bare proxy on uvloop")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (config, logs, ledger)")
    parser.add_argument("--out", default=str(ROOT / "bench-results"), help="where <timestamp>.md goes")
    parser.add_argument("--docs", choices=("auto", "yes", "no"), default="auto",
                        help="update docs/benchmarks.md (auto: after a full run)")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan.full()
    started = time.monotonic()
    procs.raise_nofile()
    if not args.dry_run and wrk.available() is None:
        print("wrk is not installed (scripts/bench installs it with apt-get)", file=sys.stderr)
        return 2
    with_profile = not args.no_profile and not args.dry_run and profile.py_spy() is not None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    results = Results(started=stamp, mode="dry-run" if args.dry_run else "quick" if args.quick else "full",
                      machine=machine.describe(ROOT), settings={"plan": plan})
    if not with_profile and not args.dry_run and not args.no_profile:
        results.notes.append("py-spy not found: no profile (pip install py-spy)")
    out_dir = Path(args.out)
    tmp = tempfile.mkdtemp(prefix="gateway-bench-")
    try:
        bench = Bench(plan, Path(tmp), proxy_uvloop=args.proxy_uvloop)
        try:
            _say(f"starting servers in {tmp} (upstream :{bench.ports.upstream}, bare :{bench.ports.bare}, "
                 f"gateway :{bench.ports.gateway})")
            bench.start()
            headers = bench.check_routes()
            _say("every route answers correctly" + (f"; x-gateway-overhead-ms seen: {headers}" if headers else
                                                    "; no x-gateway-overhead-ms header yet"))
            if args.dry_run:
                for name in ("wrk", "py-spy"):
                    found = wrk.available() if name == "wrk" else profile.py_spy()
                    _say(f"{name}: {found or 'not installed'}")
                return 0
            bench.warm_up()
            for name, server in bench.servers.items():
                server.refresh_tree()
                results.rss_idle[name] = server.rss()
            with procs.Sampler(list(bench.servers.values())):
                measure(bench, results, with_profile=with_profile)
            for name, server in bench.servers.items():
                results.rss_peak[name] = server.peak_rss
        finally:
            codes = bench.stop()
            if codes.get("gateway") not in (0, None):
                results.notes.append(f"the gateway exited with {codes['gateway']}; log tail: "
                                     + (Path(tmp) / "gateway.log").read_text()[-500:])
        database = bench.setup.database
        results.ledger_check = _phase(results, "gateway ledger check", lambda: ledger_check(database))
        results.ledger_pairs_per_s = _phase(results, "ledger alone (scripts/bench_ledger.py)",
                                            bench.ledger_alone)
        results.seconds = time.monotonic() - started
        results.machine["load average (1 min) at start / end"] = (
            f"{results.machine.pop('load average (1 min)')} / {machine.load_average()}")
        text = report.render(results)
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{stamp}.md"
        out.write_text(text)
        for name in results.profiles:
            collapsed = Path(tmp) / f"profile-{name}.collapsed"
            if collapsed.exists():
                (out_dir / f"{stamp}-profile-{name}.collapsed").write_bytes(collapsed.read_bytes())
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(text)
    _say(f"written to {out} in {results.seconds:.0f}s" + (f"; work directory kept: {tmp}" if args.keep
                                                          else ""))
    if args.docs == "yes" or (args.docs == "auto" and results.mode == "full"):
        report.update_docs(ROOT / "docs" / "benchmarks.md", text)
        _say("docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
