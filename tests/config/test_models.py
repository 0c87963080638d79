"""Helpers on the validated configuration, normalisation of values, and immutability."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from gateway.config import GatewayConfig, Token
from gateway.protocols import Protocol
from tests.config.helpers import MINIMAL, parse

HASHED = hashlib.sha256(b"sk-bob").hexdigest()
TOKENS = f"""\
  - {{name: alice, key: sk-alice, quota: 1000}}
  - {{name: bob, key_sha256: {HASHED.upper()}, unlimited: true, group: vip}}
"""


def two_tokens() -> GatewayConfig:
    text = "groups: {vip: {multiplier: 0.8}}\n" + MINIMAL.split("tokens:")[0] + "tokens:\n" + TOKENS
    return parse(text)


def test_find_token_by_hash_of_plaintext_and_of_given_hash() -> None:
    cfg = two_tokens()
    alice = cfg.find_token(hashlib.sha256(b"sk-alice").hexdigest())
    bob = cfg.find_token(HASHED)
    assert alice is not None and alice.name == "alice"
    assert bob is not None and bob.name == "bob"
    assert bob.key_sha256 == HASHED  # normalised to lowercase
    assert cfg.find_token(hashlib.sha256(b"sk-nobody").hexdigest()) is None
    assert cfg.find_token("sk-alice") is None  # plaintext is never a lookup key


def test_key_hash() -> None:
    cfg = two_tokens()
    assert cfg.tokens[0].key_hash == hashlib.sha256(b"sk-alice").hexdigest()
    assert cfg.tokens[1].key_hash == HASHED


def test_channel_and_group_lookup() -> None:
    cfg = two_tokens()
    channel = cfg.channel("main")
    assert channel is not None and channel.type is Protocol.OPENAI
    assert cfg.channel("missing") is None
    assert cfg.group("vip").multiplier == 0.8
    assert cfg.group("default").multiplier == 1.0  # implied when `groups` leaves it out
    with pytest.raises(KeyError):
        cfg.group("gold")


def test_defaults() -> None:
    cfg = parse(MINIMAL)
    assert (cfg.server.host, cfg.server.port, cfg.server.admin_key) == ("127.0.0.1", 8080, None)
    assert (cfg.server.timezone, cfg.server.max_body_bytes, cfg.server.shutdown_grace_seconds) == (
        "UTC",
        20_000_000,
        30,
    )
    assert cfg.database.path == "data/gateway.db"
    assert (cfg.billing.quota_per_usd, cfg.billing.hold_output_tokens) == (500_000, 4096)
    assert list(cfg.groups) == ["default"] and cfg.pricing == {}
    assert (cfg.routing.retries, cfg.routing.cooldown_seconds) == (2, 30)
    channel = cfg.channels[0]
    assert (channel.groups, channel.priority, channel.weight, channel.multiplier) == (["default"], 0, 1, 1.0)
    assert (channel.timeouts.connect, channel.timeouts.first_byte, channel.timeouts.idle) == (10, 120, 60)
    assert (channel.proxy, channel.headers, channel.model_map, channel.enabled) == (None, {}, {}, True)
    assert channel.anthropic_version == "2023-06-01"
    token = cfg.tokens[0]
    assert (token.group, token.models, token.ips, token.expires_at) == ("default", None, None, None)
    assert (token.rpm, token.tpm, token.max_concurrent, token.channel_select, token.enabled) == (
        None,
        None,
        None,
        False,
        True,
    )


def test_unquoted_anthropic_version_stays_text() -> None:
    text = MINIMAL.replace("    models:", "    anthropic_version: 2023-06-01\n    models:")
    assert parse(text).channels[0].anthropic_version == "2023-06-01"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2027-01-01T00:00:00Z", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-01-01 12:30:00", datetime(2027, 1, 1, 12, 30, tzinfo=UTC)),  # naive means UTC
        ("2027-01-01", datetime(2027, 1, 1, tzinfo=UTC)),
        ("'2027-01-01T09:00:00+09:00'", datetime(2027, 1, 1, 9, tzinfo=timezone(timedelta(hours=9)))),
    ],
)
def test_expires_at_is_always_aware(written: str, expected: datetime) -> None:
    expires = (
        parse(MINIMAL.replace("quota: 1000", f"quota: 1000\n    expires_at: {written}")).tokens[0].expires_at
    )
    assert expires == expected
    assert expires is not None and expires.utcoffset() is not None


def test_bare_addresses_become_single_host_networks() -> None:
    text = MINIMAL.replace("quota: 1000", "quota: 1000\n    ips: [127.0.0.1, '::1', 10.0.0.0/8]")
    assert parse(text).tokens[0].ips == [
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("10.0.0.0/8"),
    ]


def test_models_are_frozen() -> None:
    cfg = parse(MINIMAL)
    with pytest.raises(ValidationError):
        cfg.server.port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        cfg.tokens[0].quota = 5  # type: ignore[misc]


def test_python_construction_applies_the_same_rules() -> None:
    """Code that builds a config without YAML (tests, fixtures) gets dollars, defaults and cross-checks."""
    base = {
        "channels": [{"name": "c", "type": "openai", "base_url": "http://x", "models": ["*"]}],
        "tokens": [{"name": "t", "key": "sk-t", "quota": "$1"}, {"name": "t", "key": "sk-u", "quota": 1}],
    }
    with pytest.raises(ValidationError) as caught:
        GatewayConfig.model_validate(base)
    assert [e["loc"] for e in caught.value.errors()] == [("tokens", 1, "name")]
    base["tokens"] = base["tokens"][:1]
    assert GatewayConfig.model_validate(base).tokens[0].quota == 500_000


def test_token_alone() -> None:
    token = Token(name="t", key_sha256="A" * 64, unlimited=True)  # type: ignore[arg-type]
    assert token.key_hash == "a" * 64 and token.grant is None
