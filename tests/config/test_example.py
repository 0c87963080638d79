"""config.example.yaml runs with no environment at all, and its commented examples are valid too."""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path

import pytest

from gateway.config import load_config, parse_config
from gateway.protocols import Protocol

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def test_parses_with_an_empty_environment() -> None:
    cfg = load_config(EXAMPLE, env={})
    (openai,) = cfg.channels
    assert (openai.name, openai.type, openai.base_url) == (
        "openai",
        Protocol.OPENAI,
        "https://api.openai.com",
    )
    assert [key.get_secret_value() for key in openai.keys] == ["demo-key"]
    assert openai.models == ["gpt-4o*", "gpt-4.1*", "o3*", "o4-mini*", "text-embedding-3-*"]
    assert cfg.server.admin_key is not None and cfg.server.admin_key.get_secret_value() == "admin-change-me"
    assert cfg.database.path == "data/gateway.db"
    demo = cfg.find_token(hashlib.sha256(b"sk-demo-change-me").hexdigest())
    assert demo is not None and demo.name == "demo" and demo.grant == 5 * 500_000


def test_parses_with_keys_set() -> None:
    env = {
        "OPENAI_API_KEY": "sk-real",
        "OPENAI_BASE_URL": "http://127.0.0.1:9100/",
        "GATEWAY_DEMO_KEY": "sk-mine",
        "GATEWAY_ADMIN_KEY": "admin-mine",
        "GATEWAY_DB": "/var/lib/gateway/ledger.db",
    }
    cfg = load_config(EXAMPLE, env=env)
    assert cfg.channels[0].base_url == "http://127.0.0.1:9100"
    assert [key.get_secret_value() for key in cfg.channels[0].keys] == ["sk-real"]
    assert cfg.find_token(hashlib.sha256(b"sk-mine").hexdigest()) is not None
    assert cfg.database.path == "/var/lib/gateway/ledger.db"


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1-mini",
        "o3",
        "o4-mini",
        "text-embedding-3-small",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "gemini-2.5-pro",
        "gemini-2.5-flash-lite",
    ],
)
def test_example_models_have_a_price(model: str) -> None:
    patterns = load_config(EXAMPLE, env={}).pricing
    assert any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


def test_commented_examples_are_valid_when_uncommented() -> None:
    # Indented "# key: …" and "# - name: …" lines are commented-out configuration, not prose.
    commented = re.compile(r"^(\s+)# ( *(?:- )?[A-Za-z_][A-Za-z0-9_]*:.*)$")
    lines = [commented.sub(r"\1\2", line) for line in EXAMPLE.read_text().splitlines()]
    cfg = parse_config("\n".join(lines), {"ANTHROPIC_API_KEY": "sk-ant", "GEMINI_API_KEY": "g-key"})
    assert [(c.name, c.type) for c in cfg.channels] == [
        ("openai", Protocol.OPENAI),
        ("anthropic", Protocol.ANTHROPIC),
        ("gemini", Protocol.GEMINI),
    ]
    assert [t.name for t in cfg.tokens] == ["demo", "alice"]
    assert cfg.channels[0].model_map == {"gpt-4": "gpt-4o"}
    assert cfg.tokens[1].max_concurrent == 4
