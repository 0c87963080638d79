"""Cross-protocol translation of chat and embedding calls (SPEC §6): the functions the pipeline calls.

Each caller protocol (door) reaches each upstream protocol (channel) through the neutral model in
`neutral.py`: the door's adapter reads, the channel's adapter writes, and back. Same-protocol calls
pass through with only the model rewritten. Every field that could not be carried is named in
`Translated.dropped` (the x-gateway-dropped header).
"""

from __future__ import annotations

import copy

from gateway.protocols import Protocol, passthrough
from gateway.translate import embeddings as emb
from gateway.translate.anthropic import request as anthropic_request
from gateway.translate.anthropic import response as anthropic_response
from gateway.translate.anthropic.stream import AnthropicDecoder, AnthropicEncoder
from gateway.translate.base import Json, StreamRelay, Translated, UpstreamFailure
from gateway.translate.errors import error_response, stream_error_event
from gateway.translate.gemini import request as gemini_request
from gateway.translate.gemini import response as gemini_response
from gateway.translate.gemini.stream import GeminiDecoder, GeminiEncoder
from gateway.translate.neutral import ChatRequest, ChatResponse, Drops
from gateway.translate.openai import request as openai_request
from gateway.translate.openai import response as openai_response
from gateway.translate.openai.stream import OpenAIDecoder, OpenAIEncoder
from gateway.translate.relay import Decoder, Encoder, TranslatingRelay

__all__ = ["StreamRelay", "Translated", "UpstreamFailure", "chat_request", "chat_response", "chat_stream",
           "embeddings_request", "embeddings_response", "error_response", "gemini_embed_method",
           "stream_error_event"]

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI


def _read_request(door: Protocol, body: Json, drops: Drops) -> ChatRequest:
    if door is OPENAI:
        return openai_request.read_request(body, drops)
    if door is ANTHROPIC:
        return anthropic_request.read_request(body, drops)
    return gemini_request.read_request(body, drops)


def chat_request(door: Protocol, channel: Protocol, body: Json, *, upstream_model: str, stream: bool,
                 default_max_tokens: int) -> Translated:
    """The caller's chat request as the body to POST upstream. For a Gemini channel the model and
    streaming live in the URL (`:streamGenerateContent?alt=sse` when `stream`), not in the body.
    Streamed OpenAI-channel requests always ask for usage (stream_options.include_usage)."""
    if door is channel:
        return Translated(_passthrough_request(channel, body, upstream_model, stream))
    drops = Drops()
    req = _read_request(door, body, drops)
    if channel is OPENAI:
        out = openai_request.write_request(req, door, drops, model=upstream_model, stream=stream)
    elif channel is ANTHROPIC:
        out = anthropic_request.write_request(req, door, drops, model=upstream_model, stream=stream,
                                              default_max_tokens=default_max_tokens)
    else:
        out = gemini_request.write_request(req, door, drops)
    return Translated(out, drops.names)


def _passthrough_request(channel: Protocol, body: Json, upstream_model: str, stream: bool) -> Json:
    out = copy.deepcopy(body)
    if channel is GEMINI:
        return out
    out["model"] = upstream_model
    if channel is OPENAI and stream:
        out["stream_options"] = {**(out.get("stream_options") or {}), "include_usage": True}
    return out


def chat_response(door: Protocol, channel: Protocol, body: Json, *, model: str,
                  created: int | None = None) -> Translated:
    """The upstream's JSON reply as the caller's. `model` is the name the caller asked for;
    `created` (unix seconds, from the pipeline's clock) stamps OpenAI replies from other channels."""
    if door is channel:
        out = copy.deepcopy(body)
        if channel is not GEMINI and "model" in out:
            out["model"] = model
        return Translated(out)
    drops = Drops()
    resp: ChatResponse
    if channel is OPENAI:
        resp = openai_response.read_response(body, drops)
    elif channel is ANTHROPIC:
        resp = anthropic_response.read_response(body, drops)
    else:
        resp = gemini_response.read_response(body, drops)
    if door is OPENAI:
        stamp = created if created is not None else resp.created or 0
        out = openai_response.write_response(resp, drops, model=model, created=stamp)
    elif door is ANTHROPIC:
        out = anthropic_response.write_response(resp, drops, model=model)
    else:
        out = gemini_response.write_response(resp, drops, model=model)
    return Translated(out, drops.names)


def _decoder(channel: Protocol) -> Decoder:
    if channel is OPENAI:
        return OpenAIDecoder()
    if channel is ANTHROPIC:
        return AnthropicDecoder()
    return GeminiDecoder()


def chat_stream(door: Protocol, channel: Protocol, *, model: str, include_usage: bool,
                created: int = 0) -> StreamRelay:
    """A relay for one streamed call: feed() each upstream SSE event, then flush() at the upstream's
    end. `include_usage` is whether an OpenAI caller asked for the usage chunk. An upstream error
    event becomes the caller's error event (and sets `failure`); the stream ends there."""
    if door is channel:
        if door is OPENAI:
            return passthrough.OpenAIPassthrough(strip_usage_chunk=not include_usage)
        return passthrough.AnthropicPassthrough() if door is ANTHROPIC else passthrough.GeminiPassthrough()
    encoder: Encoder
    if door is OPENAI:
        encoder = OpenAIEncoder(model=model, created=created, include_usage=include_usage)
    elif door is ANTHROPIC:
        encoder = AnthropicEncoder(model=model)
    else:
        encoder = GeminiEncoder(model=model)
    return TranslatingRelay(_decoder(channel), encoder)


def embeddings_request(door: Protocol, channel: Protocol, body: Json, *, upstream_model: str) -> Translated:
    """OpenAI /v1/embeddings <-> Gemini embedContent / batchEmbedContents (see gemini_embed_method)."""
    if door is channel:
        out = copy.deepcopy(body)
        if channel is OPENAI:
            out["model"] = upstream_model
        return Translated(out)
    emb.check_pair(door, channel)
    drops = Drops()
    if door is OPENAI:
        return Translated(emb.openai_to_gemini_request(body, upstream_model, drops), drops.names)
    return Translated(emb.gemini_to_openai_request(body, upstream_model, drops), drops.names)


def embeddings_response(door: Protocol, channel: Protocol, body: Json, *, model: str,
                        caller_request: Json | None = None) -> Translated:
    """The upstream's embeddings reply as the caller's. `caller_request` (the caller's own body) tells
    an OpenAI caller's encoding_format (float when absent) and a Gemini caller's single or batch
    method (guessed from the number of vectors when absent)."""
    caller = caller_request or {}
    if door is channel:
        return Translated(copy.deepcopy(body))
    emb.check_pair(door, channel)
    if door is OPENAI:
        fmt = str(caller.get("encoding_format") or "float")
        return Translated(emb.gemini_to_openai_response(body, model=model, encoding_format=fmt))
    batch = "requests" in caller if caller_request is not None else None
    return Translated(emb.openai_to_gemini_response(body, batch=batch))


def gemini_embed_method(upstream_body: Json) -> str:
    """"embedContent" or "batchEmbedContents": where to POST a body from embeddings_request."""
    return emb.gemini_method(upstream_body)

