"""Fake OpenAI, Anthropic and Gemini upstreams for end-to-end tests: strict protocols, scripted faults."""

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
