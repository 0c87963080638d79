"""A fake Anthropic API: messages (JSON and SSE), count_tokens and models, as strict as the real one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_checks import check_message_request
from tests.fakes.base import FakeUpstream, Frame, behaviour_of
from tests.fakes.script import Behaviour, Tokens, estimate_tokens, split_text

ANTHROPIC_KEY = "sk-ant-fake-anthropic-upstream-key-0001"
SSE_TYPE = "text/event-stream; charset=utf-8"
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")  # the last is what anthropic SDK 2.x sends

# model id -> (display name, created_at, max output tokens)
ANTHROPIC_MODELS: dict[str, tuple[str, str, int]] = {
    "claude-sonnet-4-6": ("Claude Sonnet 4.6", "2026-02-17T00:00:00Z", 64000),
    "claude-opus-4-7": ("Claude Opus 4.7", "2026-04-16T00:00:00Z", 128000),
    "claude-sonnet-4-5-20250929": ("Claude Sonnet 4.5", "2025-09-29T00:00:00Z", 64000),
    "claude-haiku-4-5-20251001": ("Claude Haiku 4.5", "2025-10-15T00:00:00Z", 64000),
    "claude-opus-4-1-20250805": ("Claude Opus 4.1", "2025-08-05T00:00:00Z", 32000),
    "claude-3-5-haiku-20241022": ("Claude Haiku 3.5", "2024-10-22T00:00:00Z", 8192),
}
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class AnthropicFake(FakeUpstream):
    """Speaks api.anthropic.com/v1 with `x-api-key` (or `Authorization: Bearer`) and `anthropic-version`."""

    def __init__(
        self,
        *,
        keys: Iterable[str] = (ANTHROPIC_KEY,),
        models: Mapping[str, tuple[str, str, int]] | None = None,
        seed: int | None = None,
    ) -> None:
        self.models = dict(ANTHROPIC_MODELS if models is None else models)
        super().__init__(keys=keys, seed=seed)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self.messages),
            web.post("/v1/messages/count_tokens", self.count_tokens),
            web.get("/v1/models", self.list_models),
            web.get("/v1/models/{model}", self.get_model),
        ]

    # ---- hooks
    def authenticate(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-api-key")
        if key is None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else None
        if key is None:
            return self.error(401, "x-api-key header is required")
        if key not in self.keys:
            return self.error(401, "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if version is None:
            return self.error(400, "anthropic-version: header is required")
        if version not in VERSIONS:
            return self.error(400, f"anthropic-version: invalid version '{version}'")
        return None

    def error(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> web.Response:
        request_id = self._request_id()
        body = {
            "type": "error",
            "error": {"type": kind or _STATUS_TYPES.get(status, "api_error"), "message": message},
            "request_id": request_id,
        }
        response = web.json_response(body, status=status, dumps=_compact)
        response.headers["request-id"] = request_id
        return response

    def not_found(self, request: web.Request) -> web.Response:
        return self.error(404, "Not Found")

    def identity_headers(self) -> dict[str, str]:
        return {
            "request-id": self._request_id(),
            "anthropic-organization-id": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:01Z",
            "anthropic-ratelimit-input-tokens-limit": "2000000",
            "anthropic-ratelimit-input-tokens-remaining": "1999000",
            "anthropic-ratelimit-output-tokens-limit": "400000",
            "anthropic-ratelimit-output-tokens-remaining": "400000",
            "cf-ray": f"{self.random_id(16, '0123456789abcdef')}-FRA",
            "server": "cloudflare",
            "set-cookie": f"_cfuvid={self.random_id(43)}; path=/; HttpOnly; SameSite=None",
            "x-robots-tag": "none",
            "via": "1.1 google",
        }

    def _request_id(self) -> str:
        return "req_011C" + self.random_id(20, _BASE62)

    # ---- shared
    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self.error(
                400,
                "There was an error parsing the body of your request. Please check that you "
                "are sending valid JSON.",
            )
        if not isinstance(body, dict):
            return self.error(400, "Input should be a valid dictionary or object to extract fields from")
        return body

    def usage(self, behaviour: Behaviour, tokens: Tokens, *, output: int | None = None) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": tokens.input,
            "cache_creation_input_tokens": tokens.cache_write,
            "cache_read_input_tokens": tokens.cached,
            "cache_creation": {
                "ephemeral_5m_input_tokens": tokens.cache_write,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": tokens.output if output is None else output,
            "service_tier": "standard",
        }
        usage.update(behaviour.usage_override or {})
        return usage

    # ---- messages
    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        found = check_message_request(body, {m: v[2] for m, v in self.models.items()})
        if found is not None:
            return self.error(*found)
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        behaviour = behaviour_of(request)
        blocks = self._blocks(body, behaviour)
        has_tool_use = any(block["type"] == "tool_use" for block in blocks)
        written = "".join(
            b.get("text", "") + b.get("thinking", "") + json.dumps(b.get("input", "")) for b in blocks
        )
        tokens = behaviour.tokens or Tokens(
            input=estimate_tokens([body.get("system"), body["messages"], body.get("tools")]),
            output=estimate_tokens(written),
        )
        message = {
            "id": "msg_01" + self.random_id(22, _BASE62),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks,
            "stop_reason": behaviour.finish_reason or ("tool_use" if has_tool_use else "end_turn"),
            "stop_sequence": None,
            "usage": self.usage(behaviour, tokens),
        }
        if not body.get("stream"):
            return await self.send_json(request, message, headers={"Content-Type": "application/json"})
        frames = self._stream_frames(message, behaviour, tokens)
        error = _event(
            "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        )
        return await self.send_stream(
            request, frames, content_type=SSE_TYPE, error_frame=error, headers={"Cache-Control": "no-cache"}
        )

    def _blocks(self, body: dict[str, Any], behaviour: Behaviour) -> list[dict[str, Any]]:
        """Content blocks: thinking only when the request enables it, tool_use only when it declares tools."""
        blocks: list[dict[str, Any]] = []
        thinking = body.get("thinking")
        if (
            behaviour.thinking
            and isinstance(thinking, dict)
            and thinking.get("type") in ("enabled", "adaptive")
        ):
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": behaviour.thinking,
                    "signature": self.random_id(120, _BASE62 + "+/") + "==",
                }
            )
        calls = behaviour.tool_calls if body.get("tools") else []
        if not calls:
            blocks.append({"type": "text", "text": behaviour.full_text()})
        for call in calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id or "toolu_01" + self.random_id(22, _BASE62),
                    "name": call.name,
                    "input": call.arguments_object(),
                }
            )
        return blocks

    def _stream_frames(self, message: dict[str, Any], behaviour: Behaviour, tokens: Tokens) -> list[Frame]:
        """message_start, per block start/(ping)/deltas/stop, message_delta, message_stop."""
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(behaviour, tokens, output=1),
        }
        frames = [_event("message_start", {"type": "message_start", "message": start})]
        for index, block in enumerate(message["content"]):
            kind = block["type"]
            opened = (
                {"type": "text", "text": ""}
                if kind == "text"
                else {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {**block, "input": {}}
            )
            frames.append(
                _event(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": opened},
                )
            )
            if index == 0:
                frames.append(_event("ping", {"type": "ping"}))
            for delta in _deltas(block, behaviour):
                frames.append(
                    _event(
                        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                    )
                )
            frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        final_usage = {
            key: value
            for key, value in self.usage(behaviour, tokens).items()
            if key not in ("cache_creation", "service_tier")
        }
        frames.append(
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": final_usage,
                },
            )
        )
        frames.append(_event("message_stop", {"type": "message_stop"}))
        return frames

    # ---- count_tokens and models
    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        found = check_message_request(body, {m: v[2] for m, v in self.models.items()}, needs_max_tokens=False)
        if found is not None:
            return self.error(*found)
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        behaviour = behaviour_of(request)
        counted = (
            behaviour.tokens.input
            if behaviour.tokens
            else estimate_tokens([body.get("system"), body["messages"], body.get("tools")])
        )
        return await self.send_json(request, {"input_tokens": counted})

    def _model_object(self, model_id: str) -> dict[str, Any]:
        name, created, _ = self.models[model_id]
        return {"type": "model", "id": model_id, "display_name": name, "created_at": created}

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        ids = list(self.models)
        after = request.query.get("after_id")
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        limit = int(request.query.get("limit", "20"))
        page = ids[:limit]
        reply = {
            "data": [self._model_object(m) for m in page],
            "has_more": len(ids) > limit,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
        return await self.send_json(request, reply)

    async def get_model(self, request: web.Request) -> web.StreamResponse:
        model_id = request.match_info["model"]
        if model_id not in self.models:
            return self.error(404, f"model: {model_id}")
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        return await self.send_json(request, self._model_object(model_id))


def _deltas(block: dict[str, Any], behaviour: Behaviour) -> list[dict[str, Any]]:
    if block["type"] == "text":
        return [{"type": "text_delta", "text": piece} for piece in behaviour.text_pieces()]
    if block["type"] == "thinking":
        pieces = [
            {"type": "thinking_delta", "thinking": p} for p in split_text(block["thinking"], behaviour.chunks)
        ]
        return [*pieces, {"type": "signature_delta", "signature": block["signature"]}]
    arguments = json.dumps(block["input"], separators=(",", ":"))
    return [
        {"type": "input_json_delta", "partial_json": part}
        for part in ["", *split_text(arguments, behaviour.chunks)]
    ]


def _event(name: str, data: dict[str, Any]) -> Frame:
    return Frame(json.dumps(data, separators=(",", ":"), ensure_ascii=False), head=f"event: {name}\ndata: ")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
