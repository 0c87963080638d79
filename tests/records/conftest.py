"""The records world every operator and self-service test reads: a gateway after a mixed run, idle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.fakes.anthropic import AnthropicFake
from tests.records.world import World, records_world


@pytest_asyncio.fixture
async def world(tmp_path: Path, fake_anthropic: AnthropicFake) -> AsyncIterator[World]:
    async with records_world(tmp_path, fake_anthropic) as w:
        await w.gw.runtime.idle()
        yield w
