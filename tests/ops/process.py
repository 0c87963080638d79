"""Real gateway processes for operations tests: `python -m gateway serve -c FILE` on a free port, its JSON
log lines collected as they come, plus config files written the way an operator would and ledger checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness import ADMIN_KEY, CALLER_KEY, PRICING

STARTUP_SECONDS = 15.0


def config_data(db: Path, channels: list[dict[str, Any]], tokens: list[dict[str, Any]] | None = None,
                **server: Any) -> dict[str, Any]:
    return {
        "server": {"admin_key": ADMIN_KEY, "shutdown_grace_seconds": 10, **server},
        "database": {"path": str(db)},
        "pricing": PRICING,
        "channels": channels,
        "tokens": tokens if tokens is not None else [{"name": "alice", "key": CALLER_KEY, "quota": "$10"}],
    }


def write_config(path: Path, data: Mapping[str, Any] | str) -> None:
    """Write in place (JSON is YAML). Text is written as it is, for broken files."""
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))


def replace_config(path: Path, data: Mapping[str, Any] | str) -> None:
    """Save the way many editors do: write a temporary file beside it, then rename it over the old one."""
    temporary = path.with_name(path.name + ".tmp")
    write_config(temporary, data)
    os.replace(temporary, path)


class GatewayProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.url = ""
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            text = line.decode(errors="replace").strip()
            try:
                event = json.loads(text)
            except ValueError:
                event = {"event": "(text)", "text": text}
            self.events.append(event if isinstance(event, dict) else {"event": "(text)", "text": text})

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]

    async def wait_for(self, name: str, *, count: int = 1, within: float = 10.0) -> dict[str, Any]:
        """The `count`-th log event called `name`, waiting up to `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            found = self.named(name)
            if len(found) >= count:
                return found[count - 1]
            if self.proc.returncode is not None or time.monotonic() > deadline:
                tail = "\n".join(json.dumps(e) for e in self.events[-15:])
                raise AssertionError(f"no {name!r} event (exit code {self.proc.returncode}); last log:\n{tail}")
            await asyncio.sleep(0.02)

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def exit_code(self, within: float = 20.0) -> int:
        code = await asyncio.wait_for(self.proc.wait(), within)
        await asyncio.wait_for(self._reader, 5)
        return code

    async def stop(self) -> None:
        """End the process if a test left it running: SIGTERM, and SIGKILL if it does not exit in time."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


async def start_gateway(config: Path, *args: str, env: Mapping[str, str] | None = None,
                        command: list[str] | None = None) -> GatewayProcess:
    """Start `gateway serve -c config --port 0 ARGS` and wait until it listens (its URL in `.url`)."""
    argv = command or [sys.executable, "-m", "gateway"]
    proc = await asyncio.create_subprocess_exec(
        *argv, "serve", "-c", str(config), "--port", "0", *args, cwd=str(config.parent),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})})
    gateway = GatewayProcess(proc)
    try:
        listening = await gateway.wait_for("listening", within=STARTUP_SECONDS)
    except BaseException:
        await gateway.stop()
        raise
    gateway.url = listening["urls"][0]
    return gateway


@asynccontextmanager
async def running(config: Path, *args: str, **kwargs: Any) -> AsyncIterator[GatewayProcess]:
    gateway = await start_gateway(config, *args, **kwargs)
    try:
        yield gateway
    except BaseException:
        print("gateway log:", *(json.dumps(e) for e in gateway.events[-40:]), sep="\n")  # shown on failure
        raise
    finally:
        await gateway.stop()


# --- calls ---------------------------------------------------------------------------------------------

def chat_body(*, stream: bool = False, model: str = "gpt-4o-mini", text: str = "Say hello", **extra: Any
              ) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    if stream:
        body["stream"] = True
    return body


def auth(key: str = CALLER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def chat(session: aiohttp.ClientSession, url: str, *, key: str = CALLER_KEY, **body: Any
               ) -> tuple[int, Any]:
    async with session.post(f"{url}/v1/chat/completions", json=chat_body(**body), headers=auth(key)) as resp:
        return resp.status, await resp.json(content_type=None)


class Stream:
    """A streamed chat call read event by event."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.text = ""
        self.done = False

    async def next_event(self) -> str | None:
        """The next `data:` payload, or None at the end of the body."""
        while True:
            line = await self.resp.content.readline()
            if not line:
                return None
            data = line.decode().strip()
            if not data.startswith("data:"):
                continue
            payload = data[5:].strip()
            if payload == "[DONE]":
                self.done = True
            else:
                for choice in json.loads(payload).get("choices") or []:
                    self.text += (choice.get("delta") or {}).get("content") or ""
            return payload

    async def read_to_end(self) -> None:
        while await self.next_event() is not None:
            pass


@asynccontextmanager
async def stream(session: aiohttp.ClientSession, url: str, *, key: str = CALLER_KEY, **body: Any
                 ) -> AsyncIterator[Stream]:
    async with session.post(f"{url}/v1/chat/completions", json=chat_body(stream=True, **body),
                            headers=auth(key)) as resp:
        assert resp.status == 200, await resp.text()
        yield Stream(resp)


async def admin_get(session: aiohttp.ClientSession, url: str, path: str) -> Any:
    async with session.get(url + path, headers=auth(ADMIN_KEY)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


# --- the ledger file, read directly ----------------------------------------------------------------------

def books(db: Path) -> dict[str, Any]:
    """What the ledger file says, read-only: per-token used/held, open holds, rows and their quota."""
    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        usage = {t: (used, held) for t, used, held in conn.execute("SELECT token, used, held FROM token_usage")}
        open_holds = conn.execute("SELECT count(*) FROM holds WHERE state = 'open'").fetchone()[0]
        charged = dict(conn.execute("SELECT token, sum(quota) FROM logs GROUP BY token").fetchall())
        rows = conn.execute("SELECT request_id, outcome, status, quota FROM logs ORDER BY id").fetchall()
        per_request = conn.execute(
            "SELECT count(*) FROM (SELECT request_id FROM logs GROUP BY request_id HAVING count(*) > 1)"
        ).fetchone()[0]
        holds_without_row = conn.execute(
            "SELECT count(*) FROM holds h WHERE state != 'open' "
            "AND NOT EXISTS (SELECT 1 FROM logs l WHERE l.request_id = h.request_id)").fetchone()[0]
    return {"usage": usage, "open_holds": open_holds, "charged": charged, "rows": rows,
            "duplicate_rows": per_request, "closed_holds_without_row": holds_without_row}


def assert_balanced(db: Path) -> dict[str, Any]:
    """SPEC §4 invariants 3 and 5 on the file: used == sum of row quota, nothing held, one row per call."""
    found = books(db)
    for token, (used, held) in found["usage"].items():
        assert used == (found["charged"].get(token) or 0), (token, found)
        assert held == 0, (token, found)
    assert found["open_holds"] == 0, found
    assert found["duplicate_rows"] == 0, found
    assert found["closed_holds_without_row"] == 0, found
    return found
