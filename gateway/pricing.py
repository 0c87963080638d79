"""What a call costs in quota units: price lookup, the hold before a call and the charge after (SPEC §4)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase

from gateway.config.models import Price
from gateway.protocols import Usage


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
    their own; `usage.completion` already includes reasoning tokens. Exact: integer arithmetic on
    the prices' decimal values (see _Rates), no float anywhere.
    """
    rates = _rates(price, quota_per_usd, multiplier)
    tokens = (usage.prompt * rates.input + usage.cached * rates.cached + usage.cache_write * rates.cache_write
              + usage.completion * rates.output)
    return max(-(-tokens // rates.denominator) + rates.per_request, 0)


@dataclass(frozen=True, slots=True)
class _Rates:
    """A price entry times quota_per_usd and a multiplier, as integer numerators over one denominator:
    ceil(Σ tokens · price / 1e6 · quota_per_usd · multiplier) becomes one integer ceiling division.
    Built once per (price, quota_per_usd, multiplier) — a call would otherwise redo seven Decimal
    conversions and the Decimal arithmetic twice (hold and settle)."""

    input: int
    cached: int
    cache_write: int
    output: int
    denominator: int
    per_request: int  # already ceiled: the per-request cost is rounded up on its own (SPEC §4)


def _rates(price: Price, quota_per_usd: int, multiplier: float) -> _Rates:
    key = (id(price), quota_per_usd, multiplier)
    known = _rates_memo.get(key)
    if known is not None and known[0] is price:  # `is`: an id can be reused once a price is gone
        return known[1]
    rates = _build_rates(price, quota_per_usd, multiplier)
    if len(_rates_memo) >= _MEMO_LIMIT:
        _rates_memo.clear()
    _rates_memo[key] = (price, rates)
    return rates


_rates_memo: dict[tuple[int, int, float], tuple[Price, _Rates]] = {}


def _build_rates(price: Price, quota_per_usd: int, multiplier: float) -> _Rates:
    per_token = [_dec(price.input), _dec(price.cached_input, price.input),
                 _dec(price.cache_write, price.input), _dec(price.output)]
    ratios = [value.as_integer_ratio() for value in per_token]
    common = math.lcm(*(den for _, den in ratios))
    scale_num, scale_den = (quota_per_usd * _dec(multiplier)).as_integer_ratio()
    numerators = [num * (common // den) * scale_num for num, den in ratios]
    per_request = 0
    if price.per_request:
        req_num, req_den = (_dec(price.per_request) * quota_per_usd * _dec(multiplier)).as_integer_ratio()
        per_request = -(-req_num // req_den)
    input_, cached, cache_write, output = numerators
    return _Rates(input_, cached, cache_write, output, common * scale_den * 1_000_000, per_request)


def hold_amount(price: Price, *, prompt_tokens: int, max_output_tokens: int, quota_per_usd: int,
                multiplier: float, choices: int = 1) -> int:
    """The hold taken before a call: the estimated prompt plus the most output it may produce."""
    worst = Usage(prompt=prompt_tokens, completion=max_output_tokens * max(choices, 1))
    return cost(price, worst, quota_per_usd=quota_per_usd, multiplier=multiplier)


def to_usd(quota: int, quota_per_usd: int) -> float:
    """Quota units as US dollars, for display."""
    return quota / quota_per_usd if quota_per_usd else 0.0
