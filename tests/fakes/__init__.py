"""Fake OpenAI, Anthropic and Gemini upstreams for end-to-end tests: strict protocols, scripted faults.

    async def test_x(fake_openai):                      # or: async with run_fake(OpenAIFake()) as url
        fake_openai.script.reply(text="Hi", chunks=2, tokens=Tokens(input=10, output=2))
        fake_openai.script.fail(429, retry_after="1")    # the call after that one
        ...                                              # point a gateway channel at fake_openai.url
        assert fake_openai.requests[-1].json["model"] == "gpt-4o-mini"

Each request takes the next queued Behaviour (else `script.default`); see script.Behaviour for every
reply and fault field. Keys: `fake.keys[0]` (OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY).
"""

from tests.fakes.anthropic import ANTHROPIC_KEY, AnthropicFake
from tests.fakes.base import FakeUpstream, Frame, RecordedRequest, run_fake
from tests.fakes.gemini import GEMINI_KEY, GeminiFake
from tests.fakes.openai import OPENAI_KEY, OpenAIFake
from tests.fakes.script import DEFAULT_TEXT, Behaviour, Script, Tokens, ToolCall

__all__ = [
    "ANTHROPIC_KEY",
    "DEFAULT_TEXT",
    "GEMINI_KEY",
    "OPENAI_KEY",
    "AnthropicFake",
    "Behaviour",
    "FakeUpstream",
    "Frame",
    "GeminiFake",
    "OpenAIFake",
    "RecordedRequest",
    "Script",
    "Tokens",
    "ToolCall",
    "run_fake",
]
