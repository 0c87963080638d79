"""The fake OpenAI embeddings endpoint (`POST /v1/embeddings`) and its deterministic vectors."""

from __future__ import annotations

import base64
import json
import struct
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.base import behaviour_of
from tests.fakes.openai_checks import model_problem, problem
from tests.fakes.script import embedding_vector, estimate_tokens

if TYPE_CHECKING:
    from tests.fakes.openai import OpenAIFake

_EMBEDDING_DIMS = {"text-embedding-3-large": 3072}


async def embed(fake: OpenAIFake, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """`POST /v1/embeddings`: float arrays, or base64 of little-endian float32 (the SDK's default)."""
    found = model_problem(body, fake.models, "embedding")
    inputs = _embedding_inputs(body.get("input")) if found is None else []
    if found is None and "input" not in body:
        found = problem(400, "Missing required parameter: 'input'.", "input", "missing_required_parameter")
    elif found is None and not inputs:
        found = problem(
            400,
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
            None,
            None,
        )
    dims = body.get("dimensions", _EMBEDDING_DIMS.get(str(body.get("model")), 1536))
    if found is None and (not isinstance(dims, int) or isinstance(dims, bool) or dims < 1):
        found = problem(
            400,
            f"Invalid value for 'dimensions' = {dims}. Must be greater than 0.",
            "dimensions",
            "invalid_value",
        )
    encoding = body.get("encoding_format", "float")
    if found is None and encoding not in ("float", "base64"):
        found = problem(
            400,
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            "encoding_format",
            "invalid_value",
        )
    if (invalid := fake._as_error(found)) is not None:
        return invalid
    if (scripted := fake.scripted_error(request)) is not None:
        return scripted
    behaviour = behaviour_of(request)
    data = []
    for index, item in enumerate(inputs):
        vector = embedding_vector(json.dumps(item), dims)
        encoded: Any = vector
        if encoding == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    prompt = behaviour.tokens.input if behaviour.tokens else sum(estimate_tokens(i) for i in inputs)
    usage: dict[str, Any] = {"prompt_tokens": prompt, "total_tokens": prompt}
    usage.update(behaviour.usage_override or {})
    reply = {"object": "list", "data": data, "model": body["model"], "usage": usage}
    return await fake.send_json(request, reply, indent=2)


def _embedding_inputs(value: Any) -> list[Any]:
    """The input items (strings or token arrays); [] when any of them is empty or of a wrong type."""
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list) or not value:
        return []
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [value]
    good = all(
        (isinstance(v, str) and v) or (isinstance(v, list) and v and all(isinstance(t, int) for t in v))
        for v in value
    )
    return list(value) if good else []
