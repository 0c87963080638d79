"""Same-protocol relays fed literal provider streams: bytes relayed, usage, text counted, failures."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocols import Protocol, Usage
from gateway.protocols.passthrough import (
    NOT_JSON,
    AnthropicPassthrough,
    GeminiPassthrough,
    OpenAIPassthrough,
    usage_from_body,
)
from gateway.protocols.sse import Decoder, Event, encode
from gateway.translate.base import StreamRelay, UpstreamFailure
from tests.protocols import streams as s


def run(relay: StreamRelay, stream: str, cuts: tuple[int, ...] = ()) -> bytes:
    """Decode `stream` (cut into chunks at `cuts`), pass every event through `relay`, return the output."""
    data = stream.encode()
    decoder = Decoder()
    out: list[Event] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        for event in decoder.feed(data[start:cut]):
            out += relay.feed(event)
        start = cut
    for event in decoder.flush():
        out += relay.feed(event)
    out += relay.flush()
    return b"".join(encode(event) for event in out)


OPENAI_FULL = s.OPENAI_TEXT
OPENAI_DONE = "data: [DONE]\n\n"
OPENAI_USAGE = Usage(prompt=16, cached=3, completion=10, reasoning=4, reported=True)


def test_openai_relays_every_byte_when_caller_asked_for_usage() -> None:
    relay = OpenAIPassthrough(strip_usage_chunk=False)
    assert run(relay, OPENAI_FULL) == OPENAI_FULL.encode()
    assert relay.usage == OPENAI_USAGE
    assert relay.output_chars == s.OPENAI_TEXT_BYTES
    assert relay.finished and relay.failure is None


def test_openai_strips_only_the_usage_chunk_but_still_bills_it() -> None:
    relay = OpenAIPassthrough(strip_usage_chunk=True)
    events = s.events_of(OPENAI_FULL)
    assert '"choices":[]' in events[-2] and events[-1] == OPENAI_DONE
    assert run(relay, OPENAI_FULL) == "".join(events[:-2] + events[-1:]).encode()
    assert relay.usage == OPENAI_USAGE
    assert relay.finished


def test_openai_usage_on_a_chunk_with_choices_is_read_and_relayed() -> None:
    # Some compatible servers put usage on the last content chunk instead of a separate one.
    chunk = ('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
             '{"content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,'
             '"total_tokens":6}}\n\n')
    relay = OpenAIPassthrough(strip_usage_chunk=True)
    assert run(relay, chunk + OPENAI_DONE) == (chunk + OPENAI_DONE).encode()
    assert relay.usage == Usage(prompt=5, completion=1, reported=True)
    assert relay.output_chars == 2


def test_openai_counts_tool_call_names_and_argument_fragments() -> None:
    relay = OpenAIPassthrough(strip_usage_chunk=False)
    assert run(relay, s.OPENAI_TOOL_CALLS) == s.OPENAI_TOOL_CALLS.encode()
    assert relay.output_chars == s.OPENAI_TOOL_BYTES
    assert not relay.finished  # no [DONE] yet
    assert relay.usage == Usage()


def test_openai_in_stream_error_is_detected_and_relayed() -> None:
    stream = s.OPENAI_ERROR
    relay = OpenAIPassthrough(strip_usage_chunk=True)
    assert run(relay, stream) == stream.encode()
    assert relay.failure == UpstreamFailure(
        500, "The server had an error while processing your request. Sorry about that!")
    assert relay.output_chars == 5
    assert not relay.finished


def test_openai_error_status_from_type_or_numeric_code() -> None:
    relay = OpenAIPassthrough(strip_usage_chunk=False)
    run(relay, 'data: {"error":{"message":"Rate limit reached","type":"tokens",'
               '"code":"rate_limit_exceeded"}}\n\n')
    assert relay.failure is not None and relay.failure.status == 429
    relay = OpenAIPassthrough(strip_usage_chunk=False)  # vLLM-style numeric code
    run(relay, 'data: {"object":"error","error":{"message":"bad","type":"BadRequestError","code":400}}\n\n')
    assert relay.failure is not None and relay.failure.status == 400


def test_error_event_holding_a_key_is_redacted_not_relayed_verbatim() -> None:
    stream = ('data: {"error":{"message":"Incorrect API key provided: sk-proj-abc123***xyz9. You can find",'
              '"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}\n\n')
    relay = OpenAIPassthrough(strip_usage_chunk=False)
    out = run(relay, stream)
    assert b"sk-proj" not in out and b"abc123" not in out
    assert relay.failure is not None and "sk-" not in relay.failure.message
    assert relay.failure.status == 400


def test_anthropic_relays_every_byte_and_merges_usage() -> None:
    relay = AnthropicPassthrough()
    assert run(relay, s.ANTHROPIC_THINKING_TOOL) == s.ANTHROPIC_THINKING_TOOL.encode()
    assert relay.usage == Usage(prompt=472, cached=100, cache_write=20, completion=89, reported=True)
    assert relay.output_chars == s.ANTHROPIC_THINKING_TOOL_BYTES
    assert relay.finished and relay.failure is None


def test_anthropic_usage_after_message_start_only() -> None:
    head = s.ANTHROPIC_THINKING_TOOL.split("event: content_block_start")[0]
    relay = AnthropicPassthrough()
    run(relay, head)
    assert relay.usage == Usage(prompt=472, cached=100, cache_write=20, completion=2, reported=True)
    assert not relay.finished


def test_anthropic_message_delta_may_restate_input_counts() -> None:
    stream = (s.ANTHROPIC_OVERLOADED.split("event: error")[0]
              + 'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
                '"stop_sequence":null},"usage":{"input_tokens":30,"cache_read_input_tokens":null,'
                '"output_tokens":15}}\n\n')
    relay = AnthropicPassthrough()
    run(relay, stream)
    assert relay.usage == Usage(prompt=30, completion=15, reported=True)


def test_anthropic_error_event_is_a_529_failure_relayed_as_is() -> None:
    relay = AnthropicPassthrough()
    assert run(relay, s.ANTHROPIC_OVERLOADED) == s.ANTHROPIC_OVERLOADED.encode()
    assert relay.failure == UpstreamFailure(529, "Overloaded")
    assert relay.output_chars == 5
    assert relay.usage == Usage(prompt=25, completion=1, reported=True)
    assert not relay.finished


def test_anthropic_error_types_map_to_statuses() -> None:
    for kind, status in [("api_error", 500), ("rate_limit_error", 429), ("invalid_request_error", 400),
                         ("something_new", 500)]:
        relay = AnthropicPassthrough()
        payload = '{"type":"error","error":{"type":"' + kind + '","message":"m"}}'
        run(relay, f"event: error\ndata: {payload}\n\n")
        assert relay.failure == UpstreamFailure(status, "m")


def test_gemini_relays_every_byte_with_cumulative_usage() -> None:
    relay = GeminiPassthrough()
    assert run(relay, s.GEMINI_TEXT) == s.GEMINI_TEXT.encode()
    assert relay.usage == Usage(prompt=8, completion=11 + 1103, reasoning=1103, reported=True)
    assert relay.output_chars == s.GEMINI_TEXT_BYTES
    assert relay.finished


def test_gemini_not_finished_before_finish_reason() -> None:
    relay = GeminiPassthrough()
    run(relay, s.GEMINI_TEXT.split("\r\n\r\n")[0] + "\r\n\r\n")
    assert not relay.finished
    assert relay.usage.completion == 1 + 1103


def test_gemini_function_call_counts_name_and_arguments() -> None:
    relay = GeminiPassthrough()
    assert run(relay, s.GEMINI_FUNCTION_CALL) == s.GEMINI_FUNCTION_CALL.encode()
    assert relay.output_chars == s.GEMINI_FUNCTION_CALL_BYTES
    assert relay.usage == Usage(prompt=60, completion=7, reported=True)
    assert relay.finished


def test_gemini_error_chunk_is_a_failure() -> None:
    relay = GeminiPassthrough()
    assert run(relay, s.GEMINI_ERROR) == s.GEMINI_ERROR.encode()
    assert relay.failure == UpstreamFailure(503, "The model is overloaded. Please try again later.")
    assert relay.output_chars == 4 and not relay.finished


def test_gemini_error_status_name_without_code() -> None:
    relay = GeminiPassthrough()
    run(relay, 'data: {"error": {"message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}\n\n')
    assert relay.failure == UpstreamFailure(429, "Quota exceeded")


def test_an_event_that_is_not_a_json_object_ends_the_stream_with_the_callers_error_event() -> None:
    for stream in ("data: {not json\n\ndata: {}\n\n", "event: weird\ndata: [1, 2]\n\ndata: {}\n\n"):
        for relay in (OpenAIPassthrough(True), AnthropicPassthrough(), GeminiPassthrough()):
            out = s.events_of(run(relay, stream).decode())
            assert len(out) == 1 and "not a JSON object" in out[0]  # nothing follows the error event
            assert relay.failure == UpstreamFailure(502, NOT_JSON) and relay.output_chars == 0
    assert run(OpenAIPassthrough(True), "data: \n\n") == b"data: \n\n"  # a blank keep-alive is relayed


Relay = OpenAIPassthrough | AnthropicPassthrough | GeminiPassthrough
ALL_STREAMS: list[tuple[Callable[[], Relay], str]] = [
    (lambda: OpenAIPassthrough(False), OPENAI_FULL),
    (AnthropicPassthrough, s.ANTHROPIC_THINKING_TOOL),
    (GeminiPassthrough, s.GEMINI_TEXT + s.GEMINI_FUNCTION_CALL)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ALL_STREAMS), st.lists(st.integers(0, 4000), max_size=30))
def test_relay_output_does_not_depend_on_chunking(case: tuple[Callable[[], Relay], str],
                                                   cuts: list[int]) -> None:
    make, stream = case
    whole, split = make(), make()
    limit = len(stream.encode())
    assert run(split, stream, tuple(c for c in cuts if c <= limit)) == run(whole, stream)
    assert split.usage == whole.usage
    assert (split.output_chars, split.finished) == (whole.output_chars, whole.finished)


def test_usage_from_non_streamed_bodies() -> None:
    chat = {"id": "chatcmpl-1", "object": "chat.completion", "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
    assert usage_from_body(Protocol.OPENAI, "chat", chat) == Usage(prompt=10, completion=5, reported=True)
    embeddings = {"object": "list", "data": [], "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    assert usage_from_body(Protocol.OPENAI, "embeddings", embeddings) == Usage(prompt=8, reported=True)
    responses = {"object": "response", "usage": {
        "input_tokens": 36, "input_tokens_details": {"cached_tokens": 6}, "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 50}, "total_tokens": 123}}
    assert usage_from_body(Protocol.OPENAI, "responses", responses) == Usage(
        prompt=30, cached=6, completion=87, reasoning=50, reported=True)
    message = {"type": "message", "usage": {"input_tokens": 2095, "output_tokens": 503,
                                            "cache_read_input_tokens": 1000}}
    assert usage_from_body(Protocol.ANTHROPIC, "messages", message) == Usage(
        prompt=2095, cached=1000, completion=503, reported=True)
    gemini = {"candidates": [], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 9,
                                                  "cachedContentTokenCount": 1}}
    assert usage_from_body(Protocol.GEMINI, "generateContent", gemini) == Usage(
        prompt=3, cached=1, completion=9, reported=True)
    assert usage_from_body(Protocol.ANTHROPIC, "count_tokens", {"input_tokens": 12}) is None
    assert usage_from_body(Protocol.GEMINI, "countTokens", {"totalTokens": 12}) is None
    assert usage_from_body(Protocol.GEMINI, "embedContent", {"embedding": {"values": [0.1]}}) is None
    assert usage_from_body(Protocol.OPENAI, "chat", {"usage": None}) is None
