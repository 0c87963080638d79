"""Builders shared by the configuration tests."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from gateway.config import ConfigError, GatewayConfig, parse_config

MINIMAL = """\
channels:
  - name: main
    type: openai
    base_url: https://api.openai.com
    keys: [sk-upstream]
    models: ["gpt-4o*"]
tokens:
  - name: alice
    key: sk-alice
    quota: 1000
"""


def parse(text: str, env: Mapping[str, str] | None = None) -> GatewayConfig:
    return parse_config(text, {} if env is None else env)


def problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    return caught.value.problems
