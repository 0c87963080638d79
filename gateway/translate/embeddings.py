"""Embeddings: OpenAI /v1/embeddings to and from Gemini embedContent / batchEmbedContents."""

from __future__ import annotations

import base64
import struct
from typing import Any

from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.translate.gemini.names import camel_request
from gateway.translate.neutral import Drops, Json


def gemini_method(upstream_body: Json) -> str:
    """The Gemini method an upstream body is for (requests written here always go to the batch one)."""
    return "batchEmbedContents" if "requests" in upstream_body else "embedContent"


# ---- OpenAI caller, Gemini channel ---------------------------------------------------------------

def openai_to_gemini_request(body: Json, upstream_model: str, drops: Drops) -> Json:
    """Always a batchEmbedContents body (one request per input), so one method serves str and list."""
    texts = _openai_inputs(body.get("input"))
    extra: Json = {}
    if isinstance(body.get("dimensions"), int):
        extra["outputDimensionality"] = body["dimensions"]
    for key, value in body.items():
        if key not in ("input", "model", "dimensions", "encoding_format") and value is not None:
            drops.add(key)
    return {"requests": [{"model": f"models/{upstream_model}", "content": {"parts": [{"text": t}]}, **extra}
                         for t in texts]}


def _openai_inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise GatewayError("invalid_request", "a Gemini channel embeds text only: input must be a string "
                       "or an array of strings", param="input")


def gemini_to_openai_response(body: Json, *, model: str, encoding_format: str) -> Json:
    vectors = ([e.get("values") or [] for e in body.get("embeddings") or []] if "embeddings" in body
               else [(body.get("embedding") or {}).get("values") or []])
    tokens = int((body.get("usageMetadata") or {}).get("promptTokenCount") or 0)
    data = [{"object": "embedding", "index": i,
             "embedding": _base64_floats(v) if encoding_format == "base64" else v}
            for i, v in enumerate(vectors)]
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _base64_floats(values: list[float]) -> str:
    """OpenAI's base64 encoding: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


# ---- Gemini caller, OpenAI channel ---------------------------------------------------------------

def gemini_to_openai_request(body: Json, upstream_model: str, drops: Drops) -> Json:
    body = camel_request(body)  # google-genai may spell nested fields in snake_case
    requests = body["requests"] if isinstance(body.get("requests"), list) else [body]
    texts: list[str] = []
    dims: set[int] = set()
    for request in requests:
        if not isinstance(request, dict):
            continue
        content = request.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        parts = parts if isinstance(parts, list) else []
        texts.append("".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)))
        if any(not isinstance(p, dict) or "text" not in p for p in parts):
            drops.add("content.parts")
        if isinstance(request.get("outputDimensionality"), int):
            dims.add(request["outputDimensionality"])
        for key in ("taskType", "title"):
            if request.get(key) is not None:
                drops.add(key)
    out: Json = {"model": upstream_model, "input": texts if "requests" in body else texts[0],
                 "encoding_format": "float"}
    if len(dims) == 1:
        out["dimensions"] = dims.pop()
    elif dims:
        drops.add("outputDimensionality")
    return out


def openai_to_gemini_response(body: Json, *, batch: bool | None) -> Json:
    """`batch`: whether the caller called batchEmbedContents; None guesses from the count."""
    vectors = [_vector(item.get("embedding")) for item in
               sorted(body.get("data") or [], key=lambda item: int(item.get("index", 0)))]
    if batch or (batch is None and len(vectors) != 1):
        return {"embeddings": [{"values": v} for v in vectors]}
    return {"embedding": {"values": vectors[0] if vectors else []}}


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return list(value) if isinstance(value, list) else []


def check_pair(door: Protocol, channel: Protocol) -> None:
    if {door, channel} != {Protocol.OPENAI, Protocol.GEMINI}:
        raise GatewayError("invalid_request", f"embeddings are not offered between {door} and {channel}")
