"""scripts/bench: start the fake upstream, the bare proxy and the gateway, measure them in one run, report.

Phases (each server in its own process; the load generator is wrk, plus a small asyncio client for what wrk
cannot see): check every route's answer; non-streaming throughput at concurrency 32 and latency at 1;
streaming throughput at 32 and time to first byte at 1; paced streams (CPU per relayed chunk); many streams
held open (RSS); a py-spy profile of the gateway; the ledger alone; the gateway's ledger after it stops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import harness, machine, procs, profile, report, wrk
from bench import scenarios as sc
from bench.harness import ROOT, Bench, Plan, say
from bench.results import Paced, Results


def _phase(results: Results, name: str, action: Callable[[], Any]) -> Any:
    started = time.monotonic()
    say(name)
    try:
        return action()
    except Exception as exc:  # a failed phase is reported, the others still run
        results.notes.append(f"phase '{name}' failed: {type(exc).__name__}: {exc}")
        say(f"  FAILED: {type(exc).__name__}: {exc}")
        return None
    finally:
        say(f"  {time.monotonic() - started:.1f}s")


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
    if bench.ports.gateway_tmpfs:
        for connections, loads in ((32, results.json_c32), (1, results.json_c1)):
            loads[sc.ON_TMPFS] = _phase(results, f"non-streaming c={connections}: {sc.ON_TMPFS}", partial(
                bench.load, sc.ON_TMPFS, stream=False, connections=connections,
                seconds=plan.throughput if connections > 1 else plan.latency))
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
        results.profiles["json"] = _phase(results, "py-spy profile (non-streaming)",
                                          partial(bench.profile, "json", stream=False))
        if results.mode != "quick":
            results.profiles["paced"] = _phase(results, "py-spy profile (paced streams)", partial(
                bench.profile, "paced", stream=True, shape=plan.paced_shape, chunks=chunks))
    tables: list[dict[str, Any]] = [results.json_c32, results.json_c1, results.sse_c32, results.sse_c1,
                                    results.paced, results.hold, results.profiles]
    for table in tables:
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


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases (~30 s), for smoke testing")
    parser.add_argument("--dry-run", action="store_true",
                        help="start everything and check every route; no load")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--proxy-asyncio", action="store_true",
                        help="run the bare proxy on asyncio's own loop even when the gateway runs on uvloop")
    parser.add_argument("--no-tmpfs", action="store_true",
                        help="skip the diagnostic gateway whose ledger is on tmpfs (/dev/shm)")
    parser.add_argument("--gateway-ref", metavar="REF",
                        help="benchmark gateway/ as of this git ref (e.g. HEAD) instead of the working tree")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (config, logs, ledger)")
    parser.add_argument("--out", default=str(ROOT / "bench-results"), help="where <timestamp>.md goes")
    parser.add_argument("--docs", choices=("auto", "yes", "no"), default="auto",
                        help="update docs/benchmarks.md (auto: after a full run)")
    return parser.parse_args(argv)


def _run(args: argparse.Namespace, plan: Plan, results: Results, workdir: Path, tmpfs: Path | None) -> bool:
    """Start, check, measure, stop. False after a dry run (nothing measured)."""
    snapshot = None
    if args.gateway_ref:
        snapshot = workdir / "snapshot"
        commit = harness.snapshot(args.gateway_ref, snapshot)
        results.machine["gateway commit"] = f"{commit} (--gateway-ref {args.gateway_ref})"
    loop = harness.gateway_loop()
    proxy_uvloop = loop == "uvloop" and not args.proxy_asyncio
    results.machine["event loop"] = f"gateway {loop}, bare proxy {'uvloop' if proxy_uvloop else 'asyncio'}"
    bench = Bench(plan, workdir, proxy_uvloop=proxy_uvloop, tmpfs=tmpfs, snapshot=snapshot)
    try:
        ports = ", ".join(f"{name} :{server.port}" for name, server in bench.servers.items())
        say(f"starting servers in {workdir}: {ports}")
        bench.start()
        headers = bench.check_routes()
        say("every route answers correctly" + (f"; x-gateway-overhead-ms seen: {headers}" if headers
                                               else "; no x-gateway-overhead-ms header yet"))
        if args.dry_run:
            say(f"wrk: {wrk.available() or 'not installed'}; py-spy: {profile.py_spy() or 'not installed'}")
            return False
        bench.warm_up()
        for name, server in bench.servers.items():
            server.refresh_tree()
            results.rss_idle[name] = server.rss()
        with procs.Sampler(list(bench.servers.values())):
            measure(bench, results, with_profile=not args.no_profile and profile.py_spy() is not None)
        for name, server in bench.servers.items():
            results.rss_peak[name] = server.peak_rss
    finally:
        codes = bench.stop()
        if codes.get("gateway") not in (0, None):
            results.notes.append(f"the gateway exited with {codes['gateway']}; log tail: "
                                 + (workdir / "gateway.log").read_text()[-500:])
    database = bench.setup.database
    results.ledger_check = _phase(results, "gateway ledger check", lambda: ledger_check(database))
    results.ledger_pairs_per_s = _phase(results, "ledger alone (scripts/bench_ledger.py)", bench.ledger_alone)
    return True


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    started = time.monotonic()
    procs.raise_nofile()
    if not args.dry_run and wrk.available() is None:
        print("wrk is not installed (scripts/bench installs it with apt-get)", file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    plan = Plan.quick() if args.quick else Plan.full()
    results = Results(started=stamp, mode="dry-run" if args.dry_run else "quick" if args.quick else "full",
                      machine=machine.describe(ROOT), settings={"plan": plan})
    if not args.dry_run and not args.no_profile and profile.py_spy() is None:
        results.notes.append("py-spy not found: no profile (pip install py-spy)")
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    shm = Path("/dev/shm")
    tmpfs = Path(tempfile.mkdtemp(prefix="gateway-bench-", dir=shm)) if shm.is_dir() and not args.no_tmpfs \
        else None
    out_dir = Path(args.out)
    try:
        if not _run(args, plan, results, workdir, tmpfs):
            return 0
        results.seconds = time.monotonic() - started
        results.machine["load average (1 min) at start / end"] = (
            f"{results.machine.pop('load')} / {machine.load_average()}")
        text = report.render(results)
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{stamp}.md"
        out.write_text(text)
        for name in results.profiles:
            collapsed = workdir / f"profile-{name}.collapsed"
            if collapsed.exists():
                shutil.copyfile(collapsed, out_dir / f"{stamp}-profile-{name}.collapsed")
    finally:
        if tmpfs is not None:
            shutil.rmtree(tmpfs, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(text)
    say(f"written to {out} in {results.seconds:.0f}s" + (f"; work directory kept: {workdir}" if args.keep
                                                         else ""))
    if args.docs == "yes" or (args.docs == "auto" and results.mode == "full"):
        report.update_docs(ROOT / "docs" / "benchmarks.md", text)
        say("docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
