"""Our caller streams, fed to the official SDKs' own stream accumulators, add up to the right answer:
text, both parallel tool calls with whole arguments, thinking, stop reason and usage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from google.genai import types as ge
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from pydantic import TypeAdapter

from gateway.protocols import Protocol
from tests.translate.golden import Case, cases, parse_sse

STREAMS = [c for c in cases("caller_stream.sse") if c.meta.get("failure") is None]
PARIS = {"location": "Paris, France"}
ROME = {"location": "Rome, Italy", "unit": "celsius"}
_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def accumulate(case: Case) -> tuple[str, str, list[tuple[str, Any]], str, int]:
    """(text, thinking, [(tool name, arguments)], stop reason, output tokens) as the SDK sees them."""
    events = parse_sse(case.text("caller_stream.sse"))
    if case.door is Protocol.OPENAI:
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
        for event in events:
            if event.data != "[DONE]":
                list(state.handle_chunk(ChatCompletionChunk.model_validate(json.loads(event.data))))
        done = state.get_final_completion()
        message = done.choices[0].message
        calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
        thinking = (message.model_extra or {}).get("reasoning_content") or ""
        return (message.content or "", thinking, calls, done.choices[0].finish_reason,
                done.usage.completion_tokens if done.usage else -1)
    if case.door is Protocol.ANTHROPIC:
        snapshot = None
        json_bufs: dict[int, bytes] = {}
        for event in events:
            snapshot = accumulate_event(event=_EVENT.validate_python(json.loads(event.data)),
                                        current_snapshot=snapshot, json_bufs=json_bufs)
        assert snapshot is not None
        text = "".join(b.text for b in snapshot.content if b.type == "text")
        thinking = "".join(b.thinking for b in snapshot.content if b.type == "thinking")
        calls = [(b.name, b.input) for b in snapshot.content if b.type == "tool_use"]
        return text, thinking, calls, str(snapshot.stop_reason), snapshot.usage.output_tokens
    chunks = [ge.GenerateContentResponse.model_validate(json.loads(e.data)) for e in events]
    parts = [p for c in chunks for cand in c.candidates or [] for p in (cand.content.parts or [])]
    text = "".join(p.text or "" for p in parts if not p.thought)
    thinking = "".join(p.text or "" for p in parts if p.thought)
    calls = [(p.function_call.name, p.function_call.args) for p in parts if p.function_call]
    usage = chunks[-1].usage_metadata
    output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0) if usage else -1
    return text, thinking, calls, str(chunks[-1].candidates[0].finish_reason.value), output


@pytest.mark.parametrize("case", STREAMS, ids=[c.id for c in STREAMS])
def test_sdk_accumulates_the_answer(case: Case) -> None:
    text, thinking, calls, stop, output_tokens = accumulate(case)
    if case.meta.get("include_usage", True):  # an OpenAI caller that did not ask gets no usage chunk
        assert output_tokens == case.meta["usage"]["completion"]
    name = case.path.name
    if name == "stream_tools":
        assert [c[0] for c in calls] == ["get_weather", "get_weather"]
        assert [c[1] for c in calls] == [PARIS, ROME]
        assert stop in ("tool_calls", "tool_use", "STOP")
    elif name == "stream_text":
        assert text == "Hello! How can I help you today?" and not calls
        assert stop in ("stop", "end_turn", "STOP")
    elif name == "stream_reasoning":
        assert text == "101"
        assert thinking == "The user wants a prime above 100. 101 has no divisors up to 10."
