"""Stream relay edge cases: truncated upstreams, several choices, unknown events, usage on request."""

from __future__ import annotations

import json
from typing import Any

from gateway import translate
from gateway.protocols import Protocol
from gateway.protocols.sse import Event

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI


def data(obj: Any, name: str | None = None) -> Event:
    return Event(data=obj if isinstance(obj, str) else json.dumps(obj), event=name)


def relay_all(door: Protocol, channel: Protocol, events: list[Event], include_usage: bool = True
              ) -> tuple[list[Event], translate.StreamRelay]:
    relay = translate.chat_stream(door, channel, model="m", include_usage=include_usage, created=1)
    out = [e for event in events for e in relay.feed(event)]
    return out + relay.flush(), relay


def payloads(events: list[Event]) -> list[Any]:
    return [e.data if e.data == "[DONE]" else json.loads(e.data) for e in events]


def oa_chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> Event:
    return data({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x",
                 "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})


def test_an_upstream_that_stops_without_finishing_gets_no_clean_ending() -> None:
    for door in (ANTHROPIC, GEMINI):
        out, relay = relay_all(door, OPENAI, [oa_chunk({"role": "assistant"}), oa_chunk({"content": "Hel"})])
        assert not relay.finished and relay.failure is None
        names = [e.event for e in out]
        assert "message_stop" not in names and "message_delta" not in names
        assert all("finishReason" not in e.data for e in out)
    out, relay = relay_all(OPENAI, GEMINI, [data({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]})])
    assert "[DONE]" not in [e.data for e in out] and not relay.finished


def test_gemini_end_of_stream_is_the_end_once_a_candidate_finished() -> None:
    chunk = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "finishReason": "STOP"}],
             "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}
    relay = translate.chat_stream(ANTHROPIC, GEMINI, model="m", include_usage=False)
    before = relay.feed(data(chunk))
    assert relay.finished and "message_stop" not in [e.event for e in before]
    assert [e.event for e in relay.flush()] == ["message_delta", "message_stop"]


def test_usage_chunk_only_when_the_openai_caller_asked() -> None:
    events = [data({"type": "message_start", "message": {"id": "m1", "usage": {"input_tokens": 5, "output_tokens": 1}}},
                   "message_start"),
              data({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
                   "message_delta"),
              data({"type": "message_stop"}, "message_stop")]
    without, relay = relay_all(OPENAI, ANTHROPIC, events, include_usage=False)
    assert [p for p in payloads(without) if p != "[DONE]" and "usage" in p] == []
    assert relay.usage.prompt == 5 and relay.usage.completion == 7  # billed either way
    with_usage, _ = relay_all(OPENAI, ANTHROPIC, events, include_usage=True)
    last = payloads(with_usage)[-2]
    assert last["choices"] == [] and last["usage"] == {"prompt_tokens": 5, "completion_tokens": 7,
                                                       "total_tokens": 12}


def test_anthropic_pings_and_unknown_events_are_tolerated() -> None:
    events = [data({"type": "message_start", "message": {"id": "m1", "usage": {"input_tokens": 1}}},
                   "message_start"),
              data({"type": "ping"}, "ping"),
              data({"type": "some_future_event", "x": 1}, "some_future_event"),
              data({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   "content_block_start"),
              data({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
                   "content_block_delta")]
    out, _ = relay_all(OPENAI, ANTHROPIC, events)
    assert [p["choices"][0]["delta"] for p in payloads(out)] == [{"role": "assistant", "content": ""},
                                                                  {"content": "ok"}]


def test_openai_choices_become_gemini_candidates() -> None:
    events = [oa_chunk({"content": "a"}, index=0), oa_chunk({"content": "b"}, index=1),
              oa_chunk({"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}]},
                       index=1),
              oa_chunk({}, "stop", 0), oa_chunk({}, "tool_calls", 1), data("[DONE]")]
    out, _ = relay_all(GEMINI, OPENAI, events)
    chunks = payloads(out)
    assert [c["candidates"][0]["index"] for c in chunks[:2]] == [0, 1]
    final = chunks[-1]["candidates"]
    assert [(c["index"], c["finishReason"]) for c in final] == [(0, "STOP"), (1, "STOP")]
    assert final[1]["content"]["parts"] == [{"functionCall": {"id": "t", "name": "f", "args": {}}}]


def test_anthropic_callers_get_only_the_first_choice() -> None:
    events = [oa_chunk({"content": "a"}, index=0), oa_chunk({"content": "b"}, index=1),
              oa_chunk({}, "stop", 0), oa_chunk({}, "stop", 1), data("[DONE]")]
    out, _ = relay_all(ANTHROPIC, OPENAI, events)
    texts = [json.loads(e.data)["delta"]["text"] for e in out if e.event == "content_block_delta"]
    assert texts == ["a"]


def test_nothing_follows_an_error_event() -> None:
    events = [oa_chunk({"content": "a"}), data({"error": {"message": "boom", "type": "server_error"}}),
              oa_chunk({"content": "late"}), data("[DONE]")]
    out, relay = relay_all(ANTHROPIC, OPENAI, events)
    assert out[-1].event == "error" and relay.failure is not None and relay.failure.status == 500
    assert "late" not in "".join(e.data for e in out)


def test_invalid_json_from_upstream_is_a_failure() -> None:
    out, relay = relay_all(OPENAI, GEMINI, [data("{not json")])
    assert relay.failure is not None and relay.failure.status == 502
    assert json.loads(out[-1].data)["error"]["type"] == "server_error"


def test_secrets_in_an_upstream_stream_error_are_scrubbed() -> None:
    key = "sk-proj-" + "a1b2c3d4" * 6
    out, _ = relay_all(ANTHROPIC, OPENAI, [data({"error": {"message": f"Incorrect API key provided: {key}"}})])
    assert key not in out[-1].data and "[redacted]" in out[-1].data


def test_output_chars_count_generated_bytes() -> None:
    _, relay = relay_all(GEMINI, ANTHROPIC, [
        data({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "héllo"}},
             "content_block_delta")])
    assert relay.output_chars == len("héllo".encode())


def test_same_protocol_streams_pass_through_untouched() -> None:
    event = oa_chunk({"content": "x"})
    relay = translate.chat_stream(OPENAI, OPENAI, model="m", include_usage=True)
    assert relay.feed(event) == [event]


def test_compatible_servers_without_tool_indexes_or_tool_finish_reason() -> None:
    calls = [{"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
             {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]
    out, _ = relay_all(ANTHROPIC, OPENAI, [oa_chunk({"tool_calls": calls[:1]}), oa_chunk({"tool_calls": calls[1:]}),
                                          oa_chunk({}, "stop"), data("[DONE]")])
    starts = [json.loads(e.data)["content_block"] for e in out if e.event == "content_block_start"]
    assert [(b["id"], b["name"]) for b in starts] == [("a", "f"), ("b", "g")]
    delta = next(json.loads(e.data) for e in out if e.event == "message_delta")
    assert delta["delta"]["stop_reason"] == "tool_use"


def test_tool_result_images_reach_openai_and_gemini() -> None:
    body = {"model": "m", "max_tokens": 9, "messages": [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "done"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]}]}
    to_openai = translate.chat_request(ANTHROPIC, OPENAI, body, upstream_model="m", stream=False,
                                       default_max_tokens=9)
    assert to_openai.body["messages"][2:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "done"},
        {"role": "user", "content": [{"type": "text", "text": "Images returned by tool call t1:"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    to_gemini = translate.chat_request(ANTHROPIC, GEMINI, body, upstream_model="m", stream=False,
                                       default_max_tokens=9)
    assert to_gemini.body["contents"][2]["parts"] == [
        {"functionResponse": {"id": "t1", "name": "screenshot", "response": {"output": "done"}}},
        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]
    assert to_openai.dropped == to_gemini.dropped == []
