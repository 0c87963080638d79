"""The fake-upstream fixtures, for the fakes' own tests."""

from tests.fakes.fixtures import fake_anthropic, fake_gemini, fake_openai

__all__ = ["fake_anthropic", "fake_gemini", "fake_openai"]
