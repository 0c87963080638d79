"""Measure ledger throughput: concurrent callers each doing hold → settle (with its log row), in a loop.

Usage: .venv/bin/python scripts/bench_ledger.py [--callers 200] [--calls 20000] [--synchronous FULL]
       [--dir DIR]   (the database goes in a fresh temporary directory under DIR)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import tempfile
import time
from pathlib import Path

from gateway.ledger import LogRow
from gateway.ledger.sqlite import SqliteLedger


async def run(path: str, callers: int, calls: int, synchronous: str) -> float:
    ledger = SqliteLedger(path, synchronous=synchronous)
    await ledger.open()
    ids = itertools.count()
    per_caller = calls // callers

    async def caller(index: int) -> None:
        token = f"token-{index % 20}"
        for _ in range(per_caller):
            request_id = f"req-{next(ids)}"
            await ledger.hold(request_id, token, 10**15, 1000, model="gpt-4o-mini")
            await ledger.settle(LogRow(request_id=request_id, token=token, model="gpt-4o-mini",
                                       channel="openai-main", status=200, prompt_tokens=120,
                                       completion_tokens=300, quota=420, request_time_ms=850))

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    elapsed = time.perf_counter() - started
    await ledger.close()
    with sqlite3.connect(path) as db:  # the invariant, checked after the run
        mismatched = db.execute(
            "SELECT count(*) FROM token_usage u WHERE used != "
            "(SELECT coalesce(sum(quota), 0) FROM logs l WHERE l.token = u.token)").fetchone()[0]
    if mismatched:
        raise SystemExit(f"invariant broken for {mismatched} tokens")
    return per_caller * callers / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rate = asyncio.run(run(str(Path(tmp) / "bench.db"), args.callers, args.calls, args.synchronous))
    print(f"{rate:,.0f} hold+settle pairs/s  ({args.callers} callers, {args.calls} calls, "
          f"synchronous={args.synchronous})")


if __name__ == "__main__":
    main()
