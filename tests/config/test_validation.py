"""Each invalid configuration is refused with its problem at the exact YAML path."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.config.helpers import MINIMAL, parse, problems

CHANNEL = """\
  - name: {name}
    type: openai
    base_url: {url}
    models: ["gpt-4o*"]
"""


def config(channels: str = "", tokens: str = "", head: str = "") -> str:
    channels = channels or CHANNEL.format(name="main", url="https://api.openai.com")
    tokens = tokens or "  - {name: alice, key: sk-alice, quota: 1000}\n"
    return f"{head}channels:\n{channels}tokens:\n{tokens}"


def test_minimal_config_is_valid() -> None:
    cfg = parse(MINIMAL)
    assert cfg.channels[0].name == "main"
    assert cfg.tokens[0].quota == 1000


def test_base_url_of_third_channel() -> None:
    channels = "".join(
        CHANNEL.format(name=name, url=url)
        for name, url in [("a", "https://a.example"), ("b", "http://b.example"), ("c", "ftp://c.example")]
    )
    assert problems(config(channels)) == ["channels[2].base_url: must start with http:// or https://"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pw@api.example", "must not contain credentials; put keys in `keys` or `headers`"),
        ("https://api.example/?key=abc", "must not have a query or fragment; put keys in `keys`"),
        ("https://", "has no host"),
        ("https://api.example:99999", "has an invalid port"),
    ],
)
def test_base_url_rules(url: str, message: str) -> None:
    assert problems(config(CHANNEL.format(name="main", url=url))) == [f"channels[0].base_url: {message}"]


def test_base_url_loses_trailing_slash() -> None:
    cfg = parse(config(CHANNEL.format(name="main", url="https://openrouter.ai/api/")))
    assert cfg.channels[0].base_url == "https://openrouter.ai/api"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("{name: t, quota: 1}", "tokens[0]: give exactly one of key or key_sha256"),
        (
            "{name: t, key: sk-1, key_sha256: " + "a" * 64 + ", quota: 1}",
            "tokens[0]: give exactly one of key or key_sha256",
        ),
        ("{name: t, key: sk-1}", "tokens[0]: give exactly one of quota or unlimited: true"),
        (
            "{name: t, key: sk-1, quota: 5, unlimited: true}",
            "tokens[0]: give exactly one of quota or unlimited: true",
        ),
        ("{name: t, key: sk-1, quota: -1}", "tokens[0].quota: Input should be greater than or equal to 0"),
        (
            "{name: t, key: sk-1, quota: 12 dollars}",
            'tokens[0].quota: must be a number of quota units or a dollar amount like "$12.50"',
        ),
        (
            '{name: t, key: sk-1, quota: "$-5"}',
            'tokens[0].quota: must be a number of quota units or a dollar amount like "$12.50"',
        ),
        (
            "{name: t, key: sk-1, quota: true}",
            'tokens[0].quota: must be a number of quota units or a dollar amount like "$12.50"',
        ),
        ("{name: t, key: sk 1, quota: 1}", "tokens[0].key: must not contain whitespace"),
        (
            "{name: t, key: 'sk-1#x', quota: 1}",
            "tokens[0].key: must not contain '#' (callers use sk-…#CHANNEL to pick a channel)",
        ),
        (
            "{name: t, key_sha256: abc, quota: 1}",
            "tokens[0].key_sha256: must be 64 hexadecimal characters"
            " (the SHA-256 of the key; see `gateway hash-key`)",
        ),
        (
            "{name: t, key: sk-1, quota: 1, ips: [10.0.0.1/8]}",
            "tokens[0].ips[0]: has host bits set; did you mean 10.0.0.0/8?",
        ),
        (
            "{name: t, key: sk-1, quota: 1, ips: [10.0.0.0/8, localhost]}",
            "tokens[0].ips[1]: must be an IP address or a CIDR network such as 10.0.0.0/8",
        ),
        (
            "{name: t, key: sk-1, quota: 1, rpm: 0}",
            "tokens[0].rpm: Input should be greater than or equal to 1",
        ),
        (
            "{name: t, key: sk-1, quota: 1, models: []}",
            "tokens[0].models: List should have at least 1 item after validation, not 0",
        ),
        (
            "{name: ' t', key: sk-1, quota: 1}",
            "tokens[0].name: must be non-empty with no leading or trailing spaces",
        ),
        (
            "{name: t, key: 12345, quota: 1}",
            "tokens[0].key: must be text; put the value in quotes"
            " (YAML read it as a number, date or boolean)",
        ),
        (
            "{name: t, key: sk-1, quota: 1, expires_at: soon}",
            "tokens[0].expires_at: Input should be a valid datetime or date, input is too short",
        ),
    ],
)
def test_token_rules(token: str, message: str) -> None:
    assert problems(config(tokens=f"  - {token}\n")) == [message]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "    proxy: ftp://proxy:21\n",
            "channels[0].proxy: must start with http://, https://, socks5:// or socks5h://",
        ),
        ("    timeouts: {connect: 0}\n", "channels[0].timeouts.connect: Input should be greater than 0"),
        ("    weight: -1\n", "channels[0].weight: Input should be greater than or equal to 0"),
        ("    type: grok\n", "channels[0].type: Input should be 'openai', 'anthropic' or 'gemini'"),
        ("    base_ur: https://x\n", "channels[0].base_ur: unknown key (did you mean 'base_url'?)"),
        (
            "    headers: {Bad Header: x}\n",
            'channels[0].headers["Bad Header"]: is not a valid HTTP header name',
        ),
        ("    keys: ['']\n", "channels[0].keys[0]: must not be empty"),
        ("    groups: []\n", "channels[0].groups: List should have at least 1 item after validation, not 0"),
        ("    timeouts: {idle: .inf}\n", "channels[0].timeouts.idle: Input should be a finite number"),
    ],
)
def test_channel_rules(extra: str, message: str) -> None:
    channel = CHANNEL.format(name="main", url="https://api.openai.com")
    if extra.startswith("    type:"):
        channel = channel.replace("    type: openai\n", "")
    assert problems(config(channel + extra)) == [message]


def test_channel_name_must_be_plain() -> None:
    assert problems(config(CHANNEL.format(name="'my channel'", url="https://a.example"))) == [
        "channels[0].name: must be 1-64 characters of letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    ]


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (
            "server: {timezone: Mars/Olympus}\n",
            "server.timezone: unknown time zone 'Mars/Olympus'"
            " (use an IANA name such as UTC or Europe/Berlin)",
        ),
        ("server: {port: 70000}\n", "server.port: Input should be less than or equal to 65535"),
        ("server: {port: yes}\n", "server.port: must be a number, not true/false"),
        ("server: {admin_key: ''}\n", "server.admin_key: must not be empty"),
        ("servr: {port: 1}\n", "servr: unknown key (did you mean 'server'?)"),
        ("billing: {quota_per_usd: 0}\n", "billing.quota_per_usd: Input should be greater than 0"),
        (
            'pricing: {"gpt-4o*": {input: -1}}\n',
            'pricing["gpt-4o*"].input: Input should be greater than or equal to 0',
        ),
        (
            'pricing: {"gpt-4o*": {}}\n',
            'pricing["gpt-4o*"]: give at least one of input, output, cached_input, cache_write, per_request',
        ),
        (
            'pricing: {"gpt-4o*": {inptu: 1}}\n',
            "pricing[\"gpt-4o*\"].inptu: unknown key (did you mean 'input'?)",
        ),
        (
            "groups: {vip: {multiplier: -0.5}}\n",
            "groups.vip.multiplier: Input should be greater than or equal to 0",
        ),
        ("routing: {retries: -1}\n", "routing.retries: Input should be greater than or equal to 0"),
    ],
)
def test_section_rules(head: str, message: str) -> None:
    assert problems(config(head=head)) == [message]


def test_channels_and_tokens_are_required() -> None:
    assert problems("server: {port: 8080}\n") == ["channels: required", "tokens: required"]


def test_empty_file_lists_what_is_missing() -> None:
    assert problems("") == ["channels: required", "tokens: required"]


def test_duplicate_channel_and_token_names() -> None:
    channels = CHANNEL.format(name="a", url="https://a.example") + CHANNEL.format(
        name="a", url="https://b.example"
    )
    tokens = "  - {name: bob, key: sk-1, quota: 1}\n  - {name: bob, key: sk-2, quota: 1}\n"
    assert problems(config(channels, tokens)) == [
        "channels[1].name: duplicate channel name 'a' (first at channels[0])",
        "tokens[1].name: duplicate token name 'bob' (first at tokens[0])",
    ]


def test_same_key_in_plaintext_and_as_hash() -> None:
    digest = hashlib.sha256(b"sk-shared").hexdigest().upper()  # case does not hide the duplicate
    tokens = f"  - {{name: a, key: sk-shared, quota: 1}}\n  - {{name: b, key_sha256: {digest}, quota: 1}}\n"
    assert problems(config(tokens=tokens)) == ["tokens[1].key_sha256: same key as tokens[0]"]


def test_groups_must_exist() -> None:
    channel = CHANNEL.format(name="main", url="https://a.example") + "    groups: [default, gold]\n"
    tokens = "  - {name: a, key: sk-1, quota: 1, group: vip}\n"
    assert problems(config(channel, tokens, head="groups: {silver: {}}\n")) == [
        "tokens[0].group: unknown group 'vip' (groups: default, silver)",
        "channels[0].groups[1]: unknown group 'gold' (groups: default, silver)",
    ]


def test_every_problem_is_listed_at_once() -> None:
    """Field errors stop the model before its cross-checks; the loader still reports both kinds."""
    channels = CHANNEL.format(name="a", url="ftp://a.example") + CHANNEL.format(name="a", url="https://b")
    tokens = "  - {name: t, key: sk-1, quota: 1, group: nope}\n  - {name: t, key: sk-1}\n"
    assert problems(config(channels, tokens)) == [
        "channels[0].base_url: must start with http:// or https://",
        "tokens[1]: give exactly one of quota or unlimited: true",
        "channels[1].name: duplicate channel name 'a' (first at channels[0])",
        "tokens[1].name: duplicate token name 't' (first at tokens[0])",
        "tokens[1].key: same key as tokens[0]",
        "tokens[0].group: unknown group 'nope' (groups: default)",
    ]


def test_sections_left_empty_count_as_absent() -> None:
    cfg = parse("server:\npricing:\ngroups:\nchannels:\ntokens:\n")
    assert (cfg.server.port, cfg.pricing, list(cfg.groups), cfg.channels, cfg.tokens) == (
        8080,
        {},
        ["default"],
        [],
        [],
    )


def test_missing_price_is_not_a_config_error() -> None:
    cfg = parse(config(head='pricing: {"claude-*": {input: 3, output: 15}}\n'))
    assert "*" not in cfg.pricing


def test_yaml_syntax_error_has_line_and_column() -> None:
    assert problems("server:\n  port: 8080\n  host: [oops\n") == [
        "YAML syntax: line 4, column 1: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence at line 3)"
    ]


def test_repeated_yaml_key_is_refused() -> None:
    assert problems("server:\n  port: 1\n  port: 2\n") == [
        "YAML syntax: line 3, column 3: duplicate key 'port' (first at line 2)"
    ]


def test_merge_keys_may_override() -> None:
    text = MINIMAL.replace(
        "tokens:\n",
        "tokens:\n  - &base {name: a2, key: sk-a2, quota: 1}\n  - {<<: *base, name: b2, key: sk-b2}\n",
    )
    assert [t.name for t in parse(text).tokens] == ["a2", "b2", "alice"]


def test_top_level_must_be_a_mapping() -> None:
    assert problems("- just\n- a list\n") == [
        "(top level): must be a mapping of sections (server, channels, tokens, …)"
    ]


def test_messages_never_echo_secrets() -> None:
    text = MINIMAL.replace("key: sk-alice", "key: 'sk-very secret'").replace(
        "keys: [sk-upstream]", "keys: [sk-upstream]\n    proxy: 'ftp://u:hunter2@p'"
    )
    listing = "\n".join(problems(text))
    assert re.search(r"very secret|hunter2", listing) is None
    assert "tokens[0].key" in listing and "channels[0].proxy" in listing
