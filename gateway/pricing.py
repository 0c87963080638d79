"""What a call costs in quota units: price lookup, the hold before a call and the charge after (SPEC §4)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from decimal import Decimal
from fnmatch import fnmatchcase

from gateway.config.models import Price
from gateway.protocols import Usage

_MILLION = Decimal(1_000_000)


def price_for(pricing: Mapping[str, Price], model: str) -> Price | None:
    """The price entry for `model`: its exact name, else the most specific matching glob.

    Specificity is the length of the pattern's literal prefix (before the first wildcard), then the
    pattern's length; a bare "*" is the catch-all and matches last.
    """
    exact = pricing.get(model)
    if exact is not None:
        return exact
    global _memo_pricing, _memo
    if pricing is not _memo_pricing:  # a reload brings a new mapping
        _memo_pricing, _memo = pricing, {}
    if model in _memo:
        return _memo[model]
    found = _best_glob(pricing, model)
    if len(_memo) >= _MEMO_LIMIT:  # model names come from callers
        _memo.clear()
    _memo[model] = found
    return found


# The glob a model's price comes from, remembered per pricing mapping (the configuration is frozen).
_MEMO_LIMIT = 4096
_memo_pricing: object | None = None
_memo: dict[str, Price | None] = {}


def _best_glob(pricing: Mapping[str, Price], model: str) -> Price | None:
    best: tuple[int, int] | None = None
    found: Price | None = None
    for pattern, price in pricing.items():
        if fnmatchcase(model, pattern):
            rank = (_literal_prefix(pattern), len(pattern))
            if best is None or rank > best:
                best, found = rank, price
    return found


def _literal_prefix(pattern: str) -> int:
    for i, ch in enumerate(pattern):
        if ch in "*?[":
            return i
    return len(pattern)


def _dec(value: float | None, fallback: float | None = None) -> Decimal:
    chosen = value if value is not None else fallback
    return _decimal(chosen) if chosen is not None else _ZERO


@functools.lru_cache(maxsize=1024)
def _decimal(value: float) -> Decimal:
    # str() first: Decimal(0.15) would carry the binary float's error into the ceiling.
    return Decimal(str(value))


_ZERO = Decimal(0)


def cost(price: Price, usage: Usage, *, quota_per_usd: int, multiplier: float) -> int:
    """The charge for `usage`: ceil(token cost) + ceil(per-request cost), in quota units.

    Cached and cache-write tokens fall back to the input price when the entry names no price of
    their own; `usage.completion` already includes reasoning tokens.
    """
    token_usd = (
        usage.prompt * _dec(price.input)
        + usage.cached * _dec(price.cached_input, price.input)
        + usage.cache_write * _dec(price.cache_write, price.input)
        + usage.completion * _dec(price.output)
    ) / _MILLION
    scale = quota_per_usd * _dec(multiplier)
    charge = math.ceil(token_usd * scale)
    if price.per_request:
        charge += math.ceil(_dec(price.per_request) * scale)
    return max(charge, 0)


def hold_amount(price: Price, *, prompt_tokens: int, max_output_tokens: int, quota_per_usd: int,
                multiplier: float, choices: int = 1) -> int:
    """The hold taken before a call: the estimated prompt plus the most output it may produce."""
    worst = Usage(prompt=prompt_tokens, completion=max_output_tokens * max(choices, 1))
    return cost(price, worst, quota_per_usd=quota_per_usd, multiplier=multiplier)


def to_usd(quota: int, quota_per_usd: int) -> float:
    """Quota units as US dollars, for display."""
    return quota / quota_per_usd if quota_per_usd else 0.0
