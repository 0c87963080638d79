"""Reload the configuration when its file changes on disk: poll its identity, wait for it to settle, reload.

Polling (device, inode, mtime, size) once a second is portable, needs no extra package, and sees every way
editors save: in place, or written to a temporary file and renamed over the old one (a new inode), or
deleted and written again (missing for a moment, which is not a change to act on).
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.reload import Reloader, file_signature


class ConfigWatcher:
    """Runs until cancelled. `interval` is the polling period; `settle` is how long a changed file must
    stay unchanged before it is read, so that a save in several writes is read once, complete."""

    def __init__(self, reloader: Reloader, *, interval: float = 1.0, settle: float = 0.25) -> None:
        if interval <= 0 or settle < 0:
            raise ValueError("interval must be > 0 and settle >= 0")
        self.reloader = reloader
        self.interval = interval
        self.settle = settle

    async def run(self) -> None:
        log: Any = self.reloader.rt.log
        path = self.reloader.path
        log.info("config_watch_started", path=path, interval_seconds=self.interval)
        while True:
            await asyncio.sleep(self.interval)
            seen = file_signature(path)
            if seen is None or seen == self.reloader.signature:
                continue
            while True:  # debounce: wait until two looks in a row agree
                await asyncio.sleep(self.settle)
                again = file_signature(path)
                if again == seen:
                    break
                seen = again
            # A SIGHUP or POST /api/reload may have read this version meanwhile.
            if seen is not None and seen != self.reloader.signature:
                try:
                    await self.reloader.reload("file")
                except Exception:  # an unexpected failure must not stop the watching
                    log.exception("config_watch_error", path=path)
