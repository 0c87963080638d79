"""A gateway stand-in for the kill -9 test: takes holds, settles some, reports each acknowledged settle.

Run as `python -m tests.ledger.holder_process DB_PATH`; it never exits on its own.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from gateway.ledger import LogRow
from gateway.ledger.sqlite import SqliteLedger


async def main(path: str) -> None:
    ledger = SqliteLedger(path)
    await ledger.open()
    for i in range(20):
        await ledger.hold(f"first-{i}", f"t{i % 3}", None, 100 + i)
    for i in range(0, 20, 2):
        await ledger.settle(LogRow(f"first-{i}", f"t{i % 3}", "m", quota=i))
        print(f"SETTLED first-{i} {i}", flush=True)
    print("READY", flush=True)

    async def call(n: int) -> None:
        request_id, token = f"loop-{n}", f"t{n % 3}"
        await ledger.hold(request_id, token, None, 50)
        if n % 2:
            await ledger.settle(LogRow(request_id, token, "m", quota=n % 50))
            print(f"SETTLED {request_id} {n % 50}", flush=True)  # only after the commit returned

    counter = itertools.count()
    while True:  # keep holds in flight until the parent kills us
        await asyncio.gather(*(call(next(counter)) for _ in range(10)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
