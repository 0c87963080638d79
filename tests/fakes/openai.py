"""A fake OpenAI API (chat, completions, embeddings, responses, models), as strict as the real one."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeUpstream, Frame, behaviour_of
from tests.fakes.openai_checks import check_chat, check_tools, model_problem, problem
from tests.fakes.openai_completions import complete
from tests.fakes.openai_embeddings import embed
from tests.fakes.openai_responses import respond
from tests.fakes.script import Behaviour, Tokens, estimate_tokens, split_text

OPENAI_KEY = "sk-fake-openai-upstream-key-0001"
SSE_TYPE = "text/event-stream; charset=utf-8"

# model id -> (kind, created); kind picks the endpoints a model may be used on, as the real API does
OPENAI_MODELS: dict[str, tuple[str, int]] = {
    "gpt-4o-mini": ("chat", 1721172741),
    "gpt-4o": ("chat", 1715367049),
    "gpt-4.1": ("chat", 1744316542),
    "o3-mini": ("chat", 1737146383),
    "o4-mini": ("chat", 1744225351),
    "gpt-3.5-turbo-instruct": ("completion", 1692901427),
    "text-embedding-3-small": ("embedding", 1705948997),
    "text-embedding-3-large": ("embedding", 1705953180),
    "text-embedding-ada-002": ("embedding", 1671217299),
}
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}


class OpenAIFake(FakeUpstream):
    """Speaks api.openai.com/v1 with `Authorization: Bearer <key>`."""

    def __init__(
        self,
        *,
        keys: Iterable[str] = (OPENAI_KEY,),
        models: Mapping[str, tuple[str, int]] | None = None,
        seed: int | None = None,
    ) -> None:
        self.models = dict(OPENAI_MODELS if models is None else models)
        super().__init__(keys=keys, seed=seed)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/completions", self.completions),
            web.post("/v1/embeddings", self.embeddings),
            web.post("/v1/responses", self.responses),
            web.get("/v1/models", self.list_models),
            web.get("/v1/models/{model}", self.get_model),
        ]

    # ---- hooks
    def authenticate(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return self.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or as the password field (with blank username) if you're accessing the API "
                "from your browser and are prompted for a username. You can obtain an API key "
                "from https://platform.openai.com/account/api-keys.",
            )
        scheme, _, key = header.partition(" ")
        if scheme.lower() == "bearer" and key.strip() in self.keys:
            return None
        shown = key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else key
        return self.error(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    def error(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> web.Response:
        error_type = kind or _STATUS_TYPES.get(status, "server_error")
        if code is None and status == 429 and error_type == "requests":
            code = "rate_limit_exceeded"
        body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        response = web.json_response(body, status=status, dumps=_pretty)
        response.headers["x-request-id"] = self._request_id()
        return response

    def not_found(self, request: web.Request) -> web.Response:
        return self.error(404, f"Invalid URL ({request.method} {request.path})")

    def identity_headers(self) -> dict[str, str]:
        return {
            "x-request-id": self._request_id(),
            "openai-processing-ms": str(self.rng.randint(80, 900)),
            "openai-version": "2020-10-01",
            "openai-organization": "user-fakeorg0000000000000000",
            "openai-project": "proj_fakeproject000000000000",
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-limit-tokens": "30000000",
            "x-ratelimit-remaining-tokens": "29999000",
            "x-ratelimit-reset-tokens": "2ms",
            "cf-cache-status": "DYNAMIC",
            "cf-ray": f"{self.random_id(16, '0123456789abcdef')}-FRA",
            "set-cookie": f"__cf_bm={self.random_id(43)}; path=/; HttpOnly; SameSite=None",
            "alt-svc": 'h3=":443"; ma=86400',
            "server": "cloudflare",
        }

    def _request_id(self) -> str:
        return "req_" + self.random_id(32, "0123456789abcdef")

    # ---- shared request handling
    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return self.error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON. If you have trouble figuring out "
                "how to fix this, please contact us through our help center at help.openai.com.)",
            )
        if not isinstance(body, dict):
            return self.error(
                400,
                f"Invalid type for body: expected an object, but got {type(body).__name__} instead.",
                code="invalid_type",
            )
        return body

    def _as_error(self, found: tuple[int, str, str | None, str | None] | None) -> web.Response | None:
        if found is None:
            return None
        status, message, param, code = found
        return self.error(status, message, param=param, code=code)

    def usage(self, behaviour: Behaviour, tokens: Tokens) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": tokens.input,
            "completion_tokens": tokens.output,
            "total_tokens": tokens.input + tokens.output,
            "prompt_tokens_details": {"cached_tokens": tokens.cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": tokens.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        usage.update(behaviour.usage_override or {})
        return usage

    def mid_stream_error(self) -> Frame:
        return Frame(
            json.dumps(
                {
                    "error": {
                        "message": "The server had an error while processing your request. Sorry about that!",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
            )
        )

    # ---- chat completions
    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        found = model_problem(body, self.models, "chat") or check_chat(body) or check_tools(body.get("tools"))
        if (invalid := self._as_error(found)) is not None:
            return invalid
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        behaviour = behaviour_of(request)
        calls = behaviour.tool_calls if body.get("tools") else []
        text = "" if calls else behaviour.full_text()
        reasoning = estimate_tokens(behaviour.thinking) if behaviour.thinking else 0
        arguments = "".join(call.arguments_json() for call in calls)
        tokens = behaviour.tokens or Tokens(
            input=estimate_tokens(body["messages"]),
            reasoning=reasoning,
            output=estimate_tokens(text + arguments) + reasoning,
        )
        finish = behaviour.finish_reason or ("tool_calls" if calls else "stop")
        call_ids = [call.id or "call_" + self.random_id(24) for call in calls]
        head = {
            "id": "chatcmpl-" + self.random_id(29),
            "created": self.now(),
            "model": body["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_" + self.random_id(10, "0123456789abcdef"),
        }
        choices = range(int(body.get("n") or 1))
        if not body.get("stream"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": text or None,
                "refusal": None,
                "annotations": [],
            }
            if calls:
                message["tool_calls"] = [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments_json()},
                    }
                    for call_id, call in zip(call_ids, calls, strict=True)
                ]
            reply = {
                **head,
                "object": "chat.completion",
                "choices": [
                    {"index": index, "message": message, "logprobs": None, "finish_reason": finish}
                    for index in choices
                ],
                "usage": self.usage(behaviour, tokens),
            }
            return await self.send_json(request, _with_head_order(reply), indent=2)
        options = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))
        obfuscate = options.get("include_obfuscation", True)

        def chunk(index: int | None, delta: dict[str, Any], finish_reason: str | None = None) -> Frame:
            data: dict[str, Any] = {**head, "object": "chat.completion.chunk", "choices": []}
            if index is not None:
                data["choices"] = [
                    {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ]
            if include_usage:
                data["usage"] = None
            if obfuscate:
                data["obfuscation"] = self.random_id(self.rng.randint(2, 12))
            return Frame(json.dumps(data, separators=(",", ":")))

        frames: list[Frame] = []
        for index in choices:
            frames.append(
                chunk(index, {"role": "assistant", "content": "" if not calls else None, "refusal": None})
            )
            frames += [
                chunk(index, {"content": piece}) for piece in (behaviour.text_pieces() if text else [])
            ]
            for position, (call_id, call) in enumerate(zip(call_ids, calls, strict=True)):
                frames.append(
                    chunk(
                        index,
                        {
                            "tool_calls": [
                                {
                                    "index": position,
                                    "id": call_id,
                                    "type": "function",
                                    "function": {"name": call.name, "arguments": ""},
                                }
                            ]
                        },
                    )
                )
                frames += [
                    chunk(index, {"tool_calls": [{"index": position, "function": {"arguments": part}}]})
                    for part in split_text(call.arguments_json(), behaviour.chunks)
                ]
            frames.append(chunk(index, {}, finish))
        if include_usage:
            last = json.loads(chunk(None, {}).payload)
            last["usage"] = self.usage(behaviour, tokens)
            frames.append(Frame(json.dumps(last, separators=(",", ":"))))
        frames.append(Frame("[DONE]"))
        return await self.send_stream(
            request, frames, content_type=SSE_TYPE, error_frame=self.mid_stream_error()
        )

    # ---- legacy completions and embeddings (openai_completions.py, openai_embeddings.py)
    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        return await complete(self, request, body)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        return await embed(self, request, body)

    # ---- responses API (shapes in openai_responses.py)
    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        found = model_problem(body, self.models, "chat")
        if found is None and "input" not in body:
            found = problem(
                400, "Missing required parameter: 'input'.", "input", "missing_required_parameter"
            )
        if found is None and body.get("tools"):
            named = [t for t in body["tools"] if isinstance(t, dict) and t.get("type") == "function"]
            if any(not t.get("name") for t in named):
                found = problem(
                    400,
                    "Missing required parameter: 'tools[0].name'.",
                    "tools[0].name",
                    "missing_required_parameter",
                )
        if (invalid := self._as_error(found)) is not None:
            return invalid
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        return await respond(self, request, body)

    # ---- models
    def _model_object(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": self.models[model_id][1], "owned_by": "system"}

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        reply = {"object": "list", "data": [self._model_object(m) for m in self.models]}
        return await self.send_json(request, reply, indent=2)

    async def get_model(self, request: web.Request) -> web.StreamResponse:
        model_id = request.match_info["model"]
        if model_id not in self.models:
            return self.error(
                404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
            )
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        return await self.send_json(request, self._model_object(model_id), indent=2)


def _with_head_order(reply: dict[str, Any]) -> dict[str, Any]:
    """Fields in the order the real API writes them (id, object, created, model, choices, usage, ...)."""
    order = ("id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint")
    return {key: reply[key] for key in order if key in reply}


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2)
