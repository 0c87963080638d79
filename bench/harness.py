"""The servers under test and one method per measurement: start them, check their routes, load them."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import checks, client, procs, profile, wrk
from bench import scenarios as sc
from bench.config import write_config
from bench.results import Hold, Load, Streams

ROOT = Path(__file__).resolve().parent.parent


def snapshot(ref: str, into: Path) -> str:
    """Extract `gateway/` as of git `ref` into `into` (others may be editing the working tree meanwhile);
    returns the commit it resolved to."""
    commit = subprocess.run(["git", "rev-parse", "--short", f"{ref}^{{commit}}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit, "gateway"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit


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


def run_async(coro: Any) -> Any:
    try:
        import uvloop
        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def gateway_loop() -> str:
    """The loop `gateway serve` picks (gateway/cli.py): uvloop when installed, unless GATEWAY_LOOP=asyncio.
    The bare proxy runs on the same one by default, so the comparison is of the code, not of the loops."""
    if os.environ.get("GATEWAY_LOOP", "").lower() == "asyncio" or importlib.util.find_spec("uvloop") is None:
        return "asyncio"
    return "uvloop"


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, plan: Plan, workdir: Path, *, proxy_uvloop: bool, tmpfs: Path | None = None,
                 snapshot: Path | None = None) -> None:
        self.plan, self.workdir, self.snapshot = plan, workdir, snapshot
        self.ports = sc.Ports(procs.free_port(), procs.free_port(), procs.free_port(),
                              procs.free_port() if tmpfs else 0)
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
        ports = {"upstream": self.ports.upstream, "bare": self.ports.bare, "gateway": self.ports.gateway,
                 "gateway-tmpfs": self.ports.gateway_tmpfs}
        if tmpfs is not None:
            diagnostic = write_config(tmpfs, port=self.ports.gateway_tmpfs, upstream=upstream)
            argvs["gateway-tmpfs"] = [py, "-m", "gateway", "serve", "-c", str(diagnostic.path)]
        self.servers = {name: procs.Server(name, argv, ports[name], workdir / f"{name}.log")
                        for name, argv in argvs.items()}

    # ---- lifecycle
    def env(self) -> dict[str, str]:
        """Every child finds `bench` in the repository and `gateway` in the snapshot, if there is one,
        else in the working tree. Children run in the work directory, so the working tree's `gateway`
        cannot shadow a snapshot by being the current directory."""
        paths = [str(p) for p in (self.snapshot, ROOT) if p is not None]
        return {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}

    def start(self) -> None:
        for server in self.servers.values():
            server.start(self.workdir, self.env())
        for server in self.servers.values():
            server.wait_listening()

    def stop(self) -> dict[str, int | None]:
        return {name: server.stop() for name, server in self.servers.items()}

    def labels(self) -> tuple[str, ...]:
        return sc.LABELS + ((sc.ON_TMPFS,) if self.ports.gateway_tmpfs else ())

    def server(self, label: str) -> procs.Server:
        return self.servers[sc.server_of(label)]

    # ---- checks
    def check_routes(self) -> dict[str, str]:
        """One request per route and mode, answers checked; returns the gateway's overhead header if any."""
        seen: dict[str, str] = {}

        async def go() -> None:
            for label in self.labels():
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

        run_async(go())
        return seen

    def warm_up(self) -> None:
        async def go() -> None:
            for label in sc.LABELS:
                for stream in (False, True):
                    await client.sequential(sc.request(label, self.ports, stream=stream), 50)

        run_async(go())

    # ---- measurements
    def load(self, label: str, *, stream: bool, connections: int, seconds: float, shape: str = "") -> Load:
        request = sc.request(label, self.ports, stream=stream, shape=shape)
        if self.plan.warm:
            wrk.run(request, connections=connections, seconds=self.plan.warm)
        server = self.server(label)
        before, loop_before = server.cpu(), server.main_thread_cpu()
        result = wrk.run(request, connections=connections, seconds=seconds)
        cpu, loop = server.cpu() - before, server.main_thread_cpu() - loop_before
        if result.failed:
            say(f"  {label}: {result.failed} failed requests {result.errors}")
        return Load(result, cpu, loop)

    def ttfb(self, label: str) -> Streams:
        request = sc.request(label, self.ports, stream=True)
        answers = run_async(client.sequential(request, self.plan.ttfb_count))
        return Streams([a.ttfb * 1000 for a in answers], [a.total * 1000 for a in answers])

    def overhead_header(self) -> list[float]:
        answers = run_async(client.sequential(sc.request(sc.GATEWAY, self.ports, stream=False),
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
        run_async(go())
        if best["open"] < held.total:
            held.errors.append(f"at most {best['open']} of {held.total} streams were open at once")
        return Hold(streams=held.total, finished=held.finished, failed=held.failed, rss_all_open=best["rss"],
                    rss_peak=best["peak"], errors=held.errors)

    def profile(self, name: str, *, stream: bool, shape: str = "", chunks: int = 0) -> str:
        """py-spy on the gateway under wrk c=32; with `chunks`, costs are shown per relayed chunk."""
        out = self.workdir / f"profile-{name}.collapsed"
        server = self.server(sc.GATEWAY)
        request = sc.request(sc.GATEWAY, self.ports, stream=stream, shape=shape)
        loop_before = server.main_thread_cpu()
        recorder = profile.start(server.pid, self.plan.profile, out)
        time.sleep(0.3)
        result = wrk.run(request, connections=32, seconds=self.plan.profile + 1)
        profile.finish(recorder)
        # The event loop's CPU per request over the same run turns sample shares into microseconds.
        loop_us = (server.main_thread_cpu() - loop_before) / max(1, result.requests * max(1, chunks)) * 1e6
        summary = profile.summarise(out, str(ROOT))
        what = f"paced streams ({shape}: one read and one write per chunk)" if shape else (
            "streaming" if stream else "non-streaming")
        title = f"gateway, {what}, pass-through, wrk c=32"
        return (profile.markdown(summary, title, loop_us=loop_us, unit="chunk" if chunks else "request")
                + f"\nCollapsed stacks: `{out.name}`\n")

    def ledger_alone(self) -> float:
        argv = [procs.python(), str(ROOT / "scripts" / "bench_ledger.py"),
                "--calls", str(self.plan.ledger_calls), "--dir", str(self.workdir)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.workdir,
                              env=self.env())
        match = re.search(r"([\d,]+) hold\+settle pairs/s", done.stdout)
        if done.returncode != 0 or match is None:
            raise RuntimeError(f"scripts/bench_ledger.py failed: {done.stdout[-500:]} {done.stderr[-1500:]}")
        return float(match.group(1).replace(",", ""))
