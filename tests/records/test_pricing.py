"""The charge formula of SPEC §4, computed exactly: pricing.cost against a reference written with Fractions."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from gateway import pricing
from gateway.config.models import Price
from gateway.protocols import Usage


def reference(price: Price, usage: Usage, quota_per_usd: int, multiplier: float) -> int:
    """SPEC §4 read literally, in exact rationals built from the decimal text of each number."""
    def exact(value: float | None, fallback: float | None = None) -> Fraction:
        chosen = value if value is not None else fallback
        return Fraction(str(chosen)) if chosen is not None else Fraction(0)

    scale = quota_per_usd * exact(multiplier)
    tokens = (usage.prompt * exact(price.input) + usage.cached * exact(price.cached_input, price.input)
              + usage.cache_write * exact(price.cache_write, price.input) + usage.completion * exact(price.output))
    charge = math.ceil(tokens / 1_000_000 * scale) + math.ceil(exact(price.per_request) * scale)
    return max(charge, 0)


def test_spec_example_numbers() -> None:
    price = Price(input=0.15, output=0.6)
    usage = Usage(prompt=1000, completion=500)
    # (1000·0.15 + 500·0.6) / 1e6 $ = 0.00045 $ → 225 units at 500,000 per $; ×1.5 → 337.5 → 338
    assert pricing.cost(price, usage, quota_per_usd=500_000, multiplier=1.0) == 225
    assert pricing.cost(price, usage, quota_per_usd=500_000, multiplier=1.5) == 338


def test_cached_and_cache_write_fall_back_to_the_input_price() -> None:
    price = Price(input=3, output=15)
    usage = Usage(prompt=0, cached=1_000_000, cache_write=1_000_000, completion=0)
    assert pricing.cost(price, usage, quota_per_usd=1000, multiplier=1.0) == 6000
    cheap = Price(input=3, output=15, cached_input=0.3, cache_write=3.75)
    assert pricing.cost(cheap, usage, quota_per_usd=1000, multiplier=1.0) == 4050


def test_per_request_is_rounded_up_on_its_own() -> None:
    price = Price(per_request=0.0000011)
    assert pricing.cost(price, Usage(prompt=1), quota_per_usd=1_000_000, multiplier=1.0) == 2


def test_a_memoised_rate_follows_a_new_price_object() -> None:
    usage = Usage(prompt=1_000_000)
    assert pricing.cost(Price(input=1), usage, quota_per_usd=10, multiplier=1.0) == 10
    assert pricing.cost(Price(input=2), usage, quota_per_usd=10, multiplier=1.0) == 20
    assert pricing.cost(Price(input=2), usage, quota_per_usd=10, multiplier=0.5) == 10


_money = st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=4).map(float))
_tokens = st.integers(min_value=0, max_value=10**9)


@given(input_=_money, output=_money, cached=_money, cache_write=_money, per_request=_money,
       usage=st.builds(Usage, prompt=_tokens, completion=_tokens, cached=_tokens, cache_write=_tokens),
       quota_per_usd=st.integers(min_value=1, max_value=10**9),
       multiplier=st.decimals(min_value=0, max_value=20, places=3).map(float))
def test_cost_is_the_exact_ceiling_of_the_formula(input_: float | None, output: float | None,
                                                 cached: float | None, cache_write: float | None,
                                                 per_request: float | None, usage: Usage, quota_per_usd: int,
                                                 multiplier: float) -> None:
    if all(v is None for v in (input_, output, cached, cache_write, per_request)):
        input_ = 0.0
    price = Price(input=input_, output=output, cached_input=cached, cache_write=cache_write,
                  per_request=per_request)
    assert pricing.cost(price, usage, quota_per_usd=quota_per_usd, multiplier=multiplier) == reference(
        price, usage, quota_per_usd, multiplier)
