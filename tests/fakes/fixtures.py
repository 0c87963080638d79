"""pytest fixtures that start each fake upstream on a loopback port for one test.

`fake_openai`, `fake_anthropic` and `fake_gemini` yield the running fake (`.url`, `.script`, `.requests`,
`.keys`). Load them with `pytest_plugins = ["tests.fakes.fixtures"]` in the root conftest, or import them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.anthropic import AnthropicFake
from tests.fakes.base import run_fake
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake


@pytest_asyncio.fixture
async def fake_openai() -> AsyncIterator[OpenAIFake]:
    """A running fake OpenAI: `.url` (no `/v1`), `.script`, `.requests`, `.keys[0]`."""
    fake = OpenAIFake()
    async with run_fake(fake):
        yield fake


@pytest_asyncio.fixture
async def fake_anthropic() -> AsyncIterator[AnthropicFake]:
    """A running fake Anthropic: `.url` (no `/v1`), `.script`, `.requests`, `.keys[0]`."""
    fake = AnthropicFake()
    async with run_fake(fake):
        yield fake


@pytest_asyncio.fixture
async def fake_gemini() -> AsyncIterator[GeminiFake]:
    """A running fake Gemini: `.url` (no version), `.script`, `.requests`, `.keys[0]`."""
    fake = GeminiFake()
    async with run_fake(fake):
        yield fake
