"""What the rest of the gateway may ask of a ledger: holds, settlements, log rows and queries.

The SQLite implementation lives beside this file; another backend (for several gateway
instances sharing one ledger) only has to satisfy `Ledger`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Outcome(enum.StrEnum):
    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"


class HoldState(enum.StrEnum):
    OPEN = "open"
    SETTLED = "settled"
    RELEASED = "released"
    ABANDONED = "abandoned"


@dataclass(slots=True)
class LogRow:
    """One ledger row per call that passed authentication (SPEC §8)."""

    request_id: str
    token: str
    model: str  # requested (and billed) model
    time: float = 0.0  # unix seconds when the call arrived (0: the ledger writes its own clock)
    upstream_model: str = ""
    channel: str = ""
    protocol: str = ""  # the door the call came in through: openai | anthropic | gemini
    endpoint: str = ""  # chat | embeddings | completions | responses | count_tokens | ...
    stream: bool = False
    status: int = 0
    outcome: Outcome = Outcome.OK
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    quota: int = 0  # charged; always 0 unless the row settles a hold
    request_time_ms: int = 0
    first_byte_ms: int | None = None
    client_ip: str = ""
    error: str = ""
    attempts: int = 0
    usage_estimated: bool = False  # usage counted locally because the upstream sent none
    flags: str = ""  # comma-separated notes, e.g. "usage_clamped,over_hold"


@dataclass(frozen=True, slots=True)
class TokenBalance:
    """A token's used quota (settled) and open holds, as the ledger knows them.

    `requests` counts the token's log rows (settled, released, refused, abandoned alike).
    """

    token: str
    used: int
    held: int
    requests: int = 0


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters and a cursor for reading log rows, newest first."""

    token: str | None = None
    model: str | None = None
    channel: str | None = None
    outcome: str | None = None
    status: int | None = None
    since: float | None = None  # unix seconds, inclusive
    until: float | None = None  # unix seconds, exclusive
    before_id: int | None = None  # cursor: only rows with id < before_id
    limit: int = 100


@dataclass(frozen=True, slots=True)
class LogPage:
    rows: list[tuple[int, LogRow]] = field(default_factory=list)  # (row id, row)
    next_cursor: int | None = None


class QuotaExceeded(Exception):
    """The hold was refused: remaining − open holds < amount."""


class LedgerUnavailable(Exception):
    """The database could not take the write (locked, disk full, closed)."""


class Ledger(Protocol):
    async def open(self) -> int:
        """Create or migrate the schema; release holds a previous process left open.

        Returns the number of holds released as abandoned (each gets one log row: outcome
        abandoned, quota 0, status 0 because no response status is known). Opening again is a no-op.
        """

    async def close(self) -> None: ...

    async def hold(self, request_id: str, token: str, grant: int | None, amount: int, *,
                   model: str = "") -> None:
        """Atomically check `grant − used − held ≥ amount` and record an open hold.

        `grant` None means unlimited (the hold is still recorded). `model` is kept with the hold so
        the row written if the hold is ever abandoned names it. Raises QuotaExceeded (nothing
        recorded), LedgerUnavailable, or ValueError (amount < 0, request id already used).
        """

    async def settle(self, row: LogRow) -> bool:
        """Close the open hold `row.request_id` at `row.quota`, add it to used, write the row.

        One transaction. Returns False (and changes nothing) if the hold is not open.
        """

    async def release(self, row: LogRow) -> bool:
        """Close the open hold `row.request_id` without charge and write the row (quota forced 0).

        Returns False (and changes nothing) if the hold is not open.
        """

    async def log(self, row: LogRow) -> None:
        """Write a row for a call that never took a hold (refused before it); quota forced 0.

        Raises ValueError if the request id took a hold (settle or release it instead).
        """

    async def balances(self) -> dict[str, TokenBalance]: ...

    async def balance(self, token: str) -> TokenBalance: ...

    async def logs(self, query: LogQuery) -> LogPage: ...
