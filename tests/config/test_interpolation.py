"""`${VAR}`, `${VAR:-default}` and `$$` are resolved after parsing, into string values only."""

from __future__ import annotations

import pytest

from gateway.config import parse_config
from tests.config.helpers import MINIMAL, parse, problems


def with_server(server: str) -> str:
    return f"server:\n{server}{MINIMAL}"


def test_variable_and_default() -> None:
    text = with_server("  host: ${HOST}\n  port: ${PORT:-8080}\n  timezone: ${TZ_NAME:-UTC}\n")
    cfg = parse(text, {"HOST": "0.0.0.0", "TZ_NAME": "Europe/Berlin"})
    assert (cfg.server.host, cfg.server.port, cfg.server.timezone) == ("0.0.0.0", 8080, "Europe/Berlin")


def test_strings_still_fill_numbers_and_booleans() -> None:
    text = MINIMAL.replace("    models:", "    weight: ${W}\n    enabled: ${ON:-false}\n    models:")
    channel = parse(text, {"W": "7"}).channels[0]
    assert (channel.weight, channel.enabled) == (7, False)


def test_empty_variable_takes_the_default_like_a_shell() -> None:
    text = with_server("  host: ${HOST:-127.0.0.1}\n  admin_key: 'x${EMPTY}y'\n")
    cfg = parse(text, {"HOST": "", "EMPTY": ""})
    assert cfg.server.host == "127.0.0.1"
    assert cfg.server.admin_key is not None and cfg.server.admin_key.get_secret_value() == "xy"


def test_dollar_dollar_is_a_literal_dollar() -> None:
    text = with_server("  admin_key: 'pa$$word-$${NOT_A_VAR}-$5'\n")
    key = parse(text).server.admin_key
    assert key is not None and key.get_secret_value() == "pa$word-${NOT_A_VAR}-$5"


def test_unset_variable_is_an_error_at_its_path() -> None:
    text = MINIMAL.replace("keys: [sk-upstream]", "keys: [sk-one, '${SECOND_KEY}']")
    assert problems(text) == [
        "channels[0].keys[1]: environment variable SECOND_KEY is not set"
        " (write ${SECOND_KEY:-default} for a default)"
    ]


def test_unset_variable_hides_its_follow_on_errors_only() -> None:
    text = MINIMAL.replace("base_url: https://api.openai.com", "base_url: ${UPSTREAM}").replace(
        "quota: 1000", "quota: lots"
    )
    assert problems(text) == [
        "channels[0].base_url: environment variable UPSTREAM is not set"
        " (write ${UPSTREAM:-default} for a default)",
        'tokens[0].quota: must be a number of quota units or a dollar amount like "$12.50"',
    ]


def test_every_unset_variable_is_listed() -> None:
    text = with_server("  host: ${A}\n  admin_key: ${B}\n")
    assert [p.split(":")[0] for p in problems(text)] == ["server.host", "server.admin_key"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("'${1BAD}'", "bad reference ${1BAD}: use ${NAME} or ${NAME:-default}"),
        ("'${A:-${B}}'", "bad reference ${A:-${B}: use ${NAME} or ${NAME:-default}"),
        ("'${A'", "unclosed ${ (write $$ for a literal $)"),
    ],
)
def test_malformed_references(value: str, message: str) -> None:
    assert problems(with_server(f"  host: {value}\n")) == [f"server.host: {message}"]


def test_references_work_unquoted_inside_flow_sequences() -> None:
    """YAML forbids `{` in `[...]` plain scalars; the SPEC writes `keys: [${OPENAI_API_KEY}]` anyway."""
    text = MINIMAL.replace("keys: [sk-upstream]", "keys: [${K1}, ${K2:-k2}, x${K1}y]")
    keys = parse(text, {"K1": "one"}).channels[0].keys
    assert [k.get_secret_value() for k in keys] == ["one", "k2", "xoney"]


def test_error_columns_are_not_shifted_by_references() -> None:
    text = "server: {host: ${SOME_LONG_VARIABLE_NAME}, port: [}\n"
    assert problems(text)[0].startswith("YAML syntax: line 1, column 51:")
    assert text[50] == "}"


def test_values_cannot_inject_yaml_structure() -> None:
    text = MINIMAL.replace('models: ["gpt-4o*"]', "models: [${MODEL}]")
    injected = "x]\n    priority: 99\n    extra: [y"
    channel = parse(text, {"MODEL": injected}).channels[0]
    assert channel.models == [injected]
    assert channel.priority == 0


def test_values_are_not_interpolated_twice() -> None:
    cfg = parse(with_server("  host: ${HOST}\n"), {"HOST": "${OTHER}$$", "OTHER": "no"})
    assert cfg.server.host == "${OTHER}$$"


def test_mapping_keys_are_not_interpolated() -> None:
    text = "pricing:\n  '${MODEL}': {input: 1}\n" + MINIMAL
    assert list(parse(text, {"MODEL": "gpt-4o"}).pricing) == ["${MODEL}"]


def test_dollar_quota_is_not_mistaken_for_a_reference() -> None:
    assert parse(MINIMAL.replace("quota: 1000", 'quota: "$12.50"')).tokens[0].quota == 6_250_000


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_TEST_HOST", "10.1.2.3")
    assert parse_config(with_server("  host: ${GATEWAY_TEST_HOST}\n")).server.host == "10.1.2.3"
