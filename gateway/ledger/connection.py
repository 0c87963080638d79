"""One SQLite connection confined to its own thread; each call runs there in a single hop.

A whole batch of statements is one Python callable, so it costs one thread switch instead of
one per statement. The thread is a ThreadPoolExecutor worker, which Python wakes and joins at
interpreter exit even if `close()` was never called, so a forgotten ledger cannot hang exit.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from gateway.ledger.base import LedgerUnavailable

_P = ParamSpec("_P")
_T = TypeVar("_T")


class ThreadConnection:
    def __init__(self, thread_name: str) -> None:
        self._thread_name = thread_name
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def open(self, connect: Callable[[], sqlite3.Connection]) -> None:
        """Create the connection on the thread that will use it (sqlite3 checks the thread)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)
        try:
            self._db = await self._hop(connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def run(self, fn: Callable[Concatenate[sqlite3.Connection, _P], _T],
                  *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Call `fn(connection, *args, **kwargs)` on the connection's thread."""
        if self._db is None:
            raise LedgerUnavailable("ledger connection is closed")
        return await self._hop(functools.partial(fn, self._db, *args, **kwargs))

    async def close(self, finish: Callable[[sqlite3.Connection], None] = sqlite3.Connection.close) -> None:
        """Run `finish` (which must close the connection) on its thread, then let the thread go."""
        db, self._db = self._db, None
        try:
            if db is not None:
                await self._hop(functools.partial(finish, db))
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None

    async def _hop(self, call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)
