"""What the rest of the gateway may ask of a ledger: holds, settlements, log rows and queries.

The SQLite implementation lives beside this file; another backend (for several gateway
instances sharing one ledger) only has to satisfy `Ledger`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from gateway.ledger import latency


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


STAT_SPLITS = ("token", "model", "channel")


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """Which daily statistics to read: days as YYYY-MM-DD in the ledger's statistics time zone."""

    since: str | None = None  # first day, inclusive
    until: str | None = None  # last day, inclusive
    by: str | None = None  # one of STAT_SPLITS: a record per day and value; None: a record per day
    token: str | None = None
    model: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class DailyStat:
    """Calls of one day (and one token, model or channel when split), summed from their log rows.

    `errors` counts outcomes error and abandoned; `cancelled` the callers that went away. The latency
    histogram and `latency_max_ms` cover successful calls only (their `request_time_ms`); the sums
    of request and first-byte time cover every row (`first_byte_count` rows had a first byte).
    """

    day: str
    key: str | None = None  # the token, model or channel; None when not split
    requests: int = 0
    errors: int = 0
    cancelled: int = 0
    quota: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    request_time_ms: int = 0
    first_byte_ms: int = 0
    first_byte_count: int = 0
    latency: tuple[int, ...] = (0,) * latency.BUCKETS  # successful calls per latency.BOUNDS_MS bucket
    latency_max_ms: int = 0

    @classmethod
    def of_row(cls, row: LogRow, day: str, key: str | None = None) -> DailyStat:
        """What one log row adds to its day: the single definition the ledger and reports share."""
        outcome = Outcome(row.outcome)
        succeeded = outcome is Outcome.OK
        histogram = [0] * latency.BUCKETS
        if succeeded:
            histogram[latency.bucket_of(row.request_time_ms)] = 1
        return cls(day=day, key=key, requests=1, errors=int(outcome in (Outcome.ERROR, Outcome.ABANDONED)),
                   cancelled=int(outcome is Outcome.CANCELLED), quota=row.quota,
                   prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
                   cached_tokens=row.cached_tokens, cache_write_tokens=row.cache_write_tokens,
                   reasoning_tokens=row.reasoning_tokens, request_time_ms=row.request_time_ms,
                   first_byte_ms=row.first_byte_ms or 0, first_byte_count=int(row.first_byte_ms is not None),
                   latency=tuple(histogram), latency_max_ms=max(row.request_time_ms, 0) if succeeded else 0)

    def percentile(self, pct: int) -> int | None:
        """Request time (ms) of successful calls at `pct`, from the histogram; None if none succeeded."""
        return latency.percentile(self.latency, self.latency_max_ms, pct)

    def plus(self, other: DailyStat, *, day: str | None = None, key: str | None = None) -> DailyStat:
        """The sum of two records (histograms added, maxima kept), labelled `day` and `key`."""
        sums = {name: getattr(self, name) + getattr(other, name) for name in SUMMED_STAT_FIELDS}
        return DailyStat(day=self.day if day is None else day, key=key, **sums,
                         latency=tuple(a + b for a, b in zip(self.latency, other.latency, strict=True)),
                         latency_max_ms=max(self.latency_max_ms, other.latency_max_ms))


SUMMED_STAT_FIELDS = ("requests", "errors", "cancelled", "quota", "prompt_tokens", "completion_tokens",
                      "cached_tokens", "cache_write_tokens", "reasoning_tokens", "request_time_ms",
                      "first_byte_ms", "first_byte_count")


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

    @property
    def stats_timezone(self) -> str | None:
        """The IANA zone whose days key the daily statistics (None before the ledger was first opened
        for writing)."""

    async def daily_stats(self, query: StatsQuery) -> list[DailyStat]:
        """Daily statistics, ordered by day then key; days without calls are absent."""

    async def rebuild_stats(self) -> int:
        """Recompute every daily statistic from the log rows, in one transaction; returns the number
        of log rows counted."""
