"""Shared fixtures: the fake upstreams, and gateways started against them."""

pytest_plugins = ["tests.fakes.fixtures"]
