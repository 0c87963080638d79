"""The fake-upstream fixtures, imported so that tests/fakes also runs on its own."""

from tests.fakes.fixtures import fake_anthropic, fake_gemini, fake_openai

__all__ = ["fake_anthropic", "fake_gemini", "fake_openai"]
