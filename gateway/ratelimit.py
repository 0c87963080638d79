"""Per-token rate limits (SPEC §3): requests per minute, tokens per minute, calls in flight.

In memory and per process; the clock is injected. State is keyed by token name, so it survives a
reload for the tokens that remain, and the limits are read from the token the call authenticated as
(the configuration snapshot of that call).

- `rpm`: at most that many admitted calls in any 60-second window (a log of admission times).
- `tpm`: the tokens of calls admitted in the last 60 seconds. A call counts its estimate (prompt
  estimate + maximum output) from admission; when it settles the estimate is replaced by the tokens
  actually billed, counted at settlement time; a call that is released or refused counts nothing.
  A call is admitted when the window has room for its estimate, or when the window is empty (so a
  single call larger than `tpm` is slow, not impossible).
- `max_concurrent`: calls of the token in flight at once.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gateway.config.models import Token

WINDOW = 60.0


@dataclass(slots=True)
class _Spent:
    at: float
    tokens: int


@dataclass(slots=True)
class _TokenState:
    requests: deque[float] = field(default_factory=deque)
    spent: deque[_Spent] = field(default_factory=deque)
    spent_total: int = 0
    in_flight: int = 0


@dataclass(slots=True)
class Ticket:
    """One admitted call's share of its token's limits, until `correct` and `finish`."""

    state: _TokenState | None = None  # None: the token has no limits
    spent: _Spent | None = None  # its estimate in the tpm window, while uncorrected
    counted: bool = False  # holds a concurrency slot


class RateLimited(Exception):
    """A limit refused the call; `retry_after` is whole seconds (≥ 1) for the Retry-After header."""

    def __init__(self, limit: str, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.limit, self.retry_after, self.message = limit, retry_after, message


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[str, _TokenState] = {}

    def admit(self, token: Token, estimated_tokens: int, ticket: Ticket | None = None) -> Ticket:
        """Take a slot under `token`'s limits (filling in `ticket`, made ahead so that whoever made it
        can always `finish` it), or raise RateLimited (nothing taken)."""
        ticket = ticket if ticket is not None else Ticket()
        if token.rpm is None and token.tpm is None and token.max_concurrent is None:
            return ticket
        now = self.clock()
        state = self._tokens.get(token.name)
        if state is None:
            state = self._tokens[token.name] = _TokenState()
        self._expire(state, now)
        if token.max_concurrent is not None and state.in_flight >= token.max_concurrent:
            raise RateLimited("concurrency", 1, f"Rate limit reached for concurrent requests: limit "
                                                f"{token.max_concurrent}. Please try again in 1s.")
        if token.rpm is not None and len(state.requests) >= token.rpm:
            wait = _seconds(state.requests[len(state.requests) - token.rpm] + WINDOW - now)
            raise RateLimited("rpm", wait, f"Rate limit reached for requests per minute (RPM): limit "
                                           f"{token.rpm}, used {len(state.requests)}. Please try again in "
                                           f"{wait}s.")
        estimate = max(0, estimated_tokens)
        if token.tpm is not None and state.spent_total and state.spent_total + estimate > token.tpm:
            wait = _seconds(self._tpm_wait(state, token.tpm, estimate, now))
            raise RateLimited("tpm", wait, f"Rate limit reached for tokens per minute (TPM): limit "
                                           f"{token.tpm}, used {state.spent_total}, requested {estimate}. "
                                           f"Please try again in {wait}s.")
        ticket.state = state
        if token.rpm is not None:
            state.requests.append(now)
        if token.tpm is not None:
            ticket.spent = self._spend(state, now, estimate)
        if token.max_concurrent is not None:
            state.in_flight += 1
            ticket.counted = True
        return ticket

    def correct(self, ticket: Ticket, tokens: int) -> None:
        """The call settled having billed `tokens`: they replace its estimate, counted from now."""
        state, spent = ticket.state, ticket.spent
        if state is None or spent is None:
            return
        ticket.spent = None
        state.spent_total -= spent.tokens
        spent.tokens = 0
        if tokens > 0:
            self._spend(state, self.clock(), tokens)

    def finish(self, ticket: Ticket) -> None:
        """The call is over: free its concurrency slot; an estimate never corrected counts nothing."""
        self.correct(ticket, 0)
        if ticket.counted and ticket.state is not None:
            ticket.counted = False
            ticket.state.in_flight -= 1

    def retain(self, names: Iterable[str]) -> None:
        """After a reload: forget tokens that no longer exist (calls in flight finish harmlessly)."""
        keep = set(names)
        for name in [n for n in self._tokens if n not in keep]:
            del self._tokens[name]

    def in_flight(self, name: str) -> int:
        state = self._tokens.get(name)
        return state.in_flight if state else 0

    @staticmethod
    def _spend(state: _TokenState, now: float, tokens: int) -> _Spent:
        spent = _Spent(now, tokens)
        state.spent.append(spent)
        state.spent_total += tokens
        return spent

    @staticmethod
    def _expire(state: _TokenState, now: float) -> None:
        horizon = now - WINDOW
        while state.requests and state.requests[0] <= horizon:
            state.requests.popleft()
        while state.spent and state.spent[0].at <= horizon:
            spent = state.spent.popleft()
            state.spent_total -= spent.tokens
            spent.tokens = 0  # its ticket may still correct it: then there is nothing left to take back

    @staticmethod
    def _tpm_wait(state: _TokenState, limit: int, estimate: int, now: float) -> float:
        """Seconds until enough of the window expires for `estimate` (or the window is empty)."""
        left = state.spent_total
        for spent in state.spent:
            left -= spent.tokens
            if left == 0 or left + estimate <= limit:
                return spent.at + WINDOW - now
        return WINDOW
