"""How one call is carried to one channel type and back: pass-through or translation (pure).

Same protocol: the caller's body goes upstream untouched but for `model` (and, for OpenAI streams,
`stream_options.include_usage`, so that every stream can be billed on reported usage), and the reply
comes back byte for byte. Different protocols: the translate package converts both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway import fastjson, translate
from gateway.call import Call, Endpoint
from gateway.protocols import Protocol, Usage
from gateway.protocols import passthrough as pt
from gateway.protocols.errors import GatewayError
from gateway.translate.base import StreamRelay

Json = dict[str, Any]
# Converts the upstream's parsed JSON reply: (body for the caller or None to relay the bytes as they
# came, usage if the reply carries any, names of fields that could not be carried).
Converter = Callable[[Json], tuple[Json | None, Usage | None, list[str]]]


@dataclass(slots=True)
class Plan:
    endpoint: Endpoint
    body: bytes
    stream: bool
    gemini_method: str = ""  # the upstream method when the channel is gemini
    version: str = "v1beta"
    dropped: list[str] = field(default_factory=list)
    convert: Converter | None = None
    new_relay: Callable[[], StreamRelay] | None = None


def dumps(body: Json) -> bytes:
    return fastjson.dumps(body)


def plan(call: Call, channel_type: Protocol, *, upstream_model: str, default_max_tokens: int) -> Plan:
    """What to send to a channel of `channel_type`, and how to read what comes back."""
    if call.door is channel_type:
        return _passthrough(call, upstream_model)
    if call.endpoint is Endpoint.CHAT:
        return _translated_chat(call, channel_type, upstream_model, default_max_tokens)
    if call.endpoint is Endpoint.EMBEDDINGS:
        return _translated_embeddings(call, channel_type, upstream_model)
    raise GatewayError("invalid_request", f"{call.endpoint} cannot be served by a {channel_type} channel")


def _passthrough(call: Call, upstream_model: str) -> Plan:
    door = call.door
    body, raw = call.body, call.raw
    changed = False
    if door is not Protocol.GEMINI and body.get("model") != upstream_model:
        body = {**body, "model": upstream_model}
        changed = True
    if door is Protocol.GEMINI:  # inner names follow the URL's, mapped or not: one model is billed
        body, changed = _gemini_inner_models(body, upstream_model)
    strip_usage = False
    if door is Protocol.OPENAI and call.stream and call.endpoint in (Endpoint.CHAT, Endpoint.COMPLETIONS):
        options = body.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            body = {**body, "stream_options": {**(options or {}), "include_usage": True}}
            changed, strip_usage = True, True
    method = call.gemini_method
    endpoint = call.endpoint

    def convert(reply: Json) -> tuple[Json | None, Usage | None, list[str]]:
        return None, pt.usage_from_body(door, endpoint.value, reply), []

    def new_relay() -> StreamRelay:
        if door is Protocol.OPENAI:
            return pt.OpenAIPassthrough(strip_usage_chunk=strip_usage)
        if door is Protocol.ANTHROPIC:
            return pt.AnthropicPassthrough()
        return pt.GeminiPassthrough()

    return Plan(endpoint=call.endpoint, body=dumps(body) if changed else raw, stream=call.stream,
                gemini_method=method, version=call.gemini_version, convert=convert, new_relay=new_relay)


def _gemini_inner_models(body: Json, upstream_model: str) -> tuple[Json, bool]:
    """A Gemini body naming its model inside (batchEmbedContents `requests[].model`, countTokens
    `generateContentRequest.model`) renamed like the URL, so that a `model_map` entry holds for them."""
    name = f"models/{upstream_model}"
    changed = False
    requests = body.get("requests")
    if isinstance(requests, list):
        renamed = [{**r, "model": name} if isinstance(r, dict) and "model" in r else r for r in requests]
        if renamed != requests:
            body, changed = {**body, "requests": renamed}, True
    inner = body.get("generateContentRequest")
    if isinstance(inner, dict) and "model" in inner and inner["model"] != name:
        body, changed = {**body, "generateContentRequest": {**inner, "model": name}}, True
    return body, changed


def _translated_chat(call: Call, channel_type: Protocol, upstream_model: str, default_max_tokens: int
                     ) -> Plan:
    out = translate.chat_request(call.door, channel_type, call.body, upstream_model=upstream_model,
                                 stream=call.stream, default_max_tokens=default_max_tokens)
    door, model, include_usage, created = call.door, call.model, call.wants_usage, int(call.arrived)

    def convert(reply: Json) -> tuple[Json | None, Usage | None, list[str]]:
        back = translate.chat_response(door, channel_type, reply, model=model, created=created)
        return back.body, pt.usage_from_body(channel_type, Endpoint.CHAT.value, reply), back.dropped

    def new_relay() -> StreamRelay:
        return translate.chat_stream(door, channel_type, model=model, include_usage=include_usage,
                                     created=created)

    method = "streamGenerateContent" if call.stream else "generateContent"
    return Plan(endpoint=Endpoint.CHAT, body=dumps(out.body), stream=call.stream, gemini_method=method,
                dropped=list(out.dropped), convert=convert, new_relay=new_relay)


def _translated_embeddings(call: Call, channel_type: Protocol, upstream_model: str) -> Plan:
    out = translate.embeddings_request(call.door, channel_type, call.body, upstream_model=upstream_model)
    door, model, caller = call.door, call.model, call.body

    def convert(reply: Json) -> tuple[Json | None, Usage | None, list[str]]:
        back = translate.embeddings_response(door, channel_type, reply, model=model, caller_request=caller)
        return back.body, pt.usage_from_body(channel_type, Endpoint.EMBEDDINGS.value, reply), back.dropped

    return Plan(endpoint=Endpoint.EMBEDDINGS, body=dumps(out.body), stream=False,
                gemini_method=translate.gemini_embed_method(out.body), dropped=list(out.dropped),
                convert=convert)
