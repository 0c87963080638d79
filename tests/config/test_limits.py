"""Operator limits that used to be constants: their defaults, their bounds, and how a reload treats them."""

from __future__ import annotations

import pytest

from gateway.reload import config_changes, keep_running_settings
from tests.config.helpers import MINIMAL, parse, problems

# (section, key, default): every one must be a positive number.
LIMITS = [
    ("server", "write_timeout_seconds", 30),
    ("server", "body_timeout_seconds", 60),
    ("database", "busy_timeout_ms", 5000),
    ("routing", "key_set_aside_seconds", 3600),
    ("routing", "max_cooldown_seconds", 3600),
]


@pytest.mark.parametrize(("section", "key", "default"), LIMITS)
def test_limit_defaults_to_the_former_constant(section: str, key: str, default: float) -> None:
    assert getattr(getattr(parse(MINIMAL), section), key) == default


@pytest.mark.parametrize(("section", "key", "default"), LIMITS)
def test_limit_is_read_from_the_file(section: str, key: str, default: float) -> None:
    config = parse(f"{section}: {{{key}: 7}}\n" + MINIMAL)
    assert getattr(getattr(config, section), key) == 7


@pytest.mark.parametrize(("section", "key", "default"), LIMITS)
@pytest.mark.parametrize("bad", ["0", "-1", "soon"])
def test_limit_must_be_positive(section: str, key: str, default: float, bad: str) -> None:
    found = problems(f"{section}: {{{key}: {bad}}}\n" + MINIMAL)
    assert any(problem.startswith(f"{section}.{key}:") for problem in found), found


def test_busy_timeout_is_restart_only() -> None:
    running, edited = parse(MINIMAL), parse("database: {busy_timeout_ms: 250}\n" + MINIMAL)
    changes = config_changes(running, edited)
    assert changes.restart_required == ["database.busy_timeout_ms: 5000 -> 250"]
    assert changes.settings == []
    assert keep_running_settings(running, edited).database.busy_timeout_ms == 5000
