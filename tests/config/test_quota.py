"""Quota amounts: integers as YAML gives them, or dollar strings converted exactly and rounded down."""

from __future__ import annotations

import pytest

from gateway.config.fields import dollars_to_quota
from tests.config.helpers import MINIMAL, parse, problems


def quota_of(amount: str, head: str = "") -> int | None:
    return parse(head + MINIMAL.replace("quota: 1000", f"quota: {amount}")).tokens[0].quota


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ('"$12.50"', 6_250_000),
        ('"$20"', 10_000_000),
        ('"$0.000001"', 0),  # half a unit rounds down
        ('"$ 1.5"', 750_000),
        ('"$.5"', 250_000),
        ("20_000", 20_000),
        ('"20_000"', 20_000),
        ("0", 0),
    ],
)
def test_amounts(amount: str, expected: int) -> None:
    assert quota_of(amount) == expected


def test_conversion_is_exact_decimal() -> None:
    # 0.29 * 100 is 28.999999999999996 in binary floating point.
    assert quota_of('"$0.29"', head="billing: {quota_per_usd: 100}\n") == 29


def test_rate_may_come_from_the_environment() -> None:
    text = "billing: {quota_per_usd: '${RATE}'}\n" + MINIMAL.replace("quota: 1000", 'quota: "$2"')
    assert parse(text, {"RATE": "1000"}).tokens[0].quota == 2000


def test_too_large_amount_is_refused() -> None:
    assert problems(MINIMAL.replace("quota: 1000", 'quota: "$99999999999999"')) == [
        "tokens[0].quota: Input should be less than or equal to 9007199254740992"
    ]


def test_dollars_to_quota_rejects_garbage() -> None:
    assert dollars_to_quota("12.50", 500_000) is None
    assert dollars_to_quota("$1e3", 500_000) is None
    assert dollars_to_quota("$-1", 500_000) is None
    assert dollars_to_quota("$1,000", 500_000) is None
    assert dollars_to_quota("$1.", 500_000) == 500_000


def test_grant_is_none_when_unlimited() -> None:
    cfg = parse(MINIMAL.replace("quota: 1000", "unlimited: true"))
    assert (cfg.tokens[0].quota, cfg.tokens[0].grant) == (None, None)
    assert parse(MINIMAL).tokens[0].grant == 1000
