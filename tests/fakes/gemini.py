"""A fake Gemini API: generate, stream (SSE and JSON array), count, embed and models, strict as the real one.

It answers what generativelanguage.googleapis.com answers under `/{v1,v1beta,v1alpha}/models/...`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeUpstream, Frame, behaviour_of
from tests.fakes.gemini_checks import (
    check_contents,
    check_generate,
    declared_functions,
    has_search_tool,
    includes_thoughts,
)
from tests.fakes.gemini_reply import GeminiReply
from tests.fakes.script import embedding_vector, estimate_tokens

GEMINI_KEY = "AIzaFakeGeminiUpstreamKey000000000000001"
JSON_TYPE = "application/json; charset=UTF-8"

# model -> (kind, display name, output token limit, embedding size)
GEMINI_MODELS: dict[str, tuple[str, str, int, int]] = {
    "gemini-2.5-flash": ("generate", "Gemini 2.5 Flash", 65536, 0),
    "gemini-2.5-pro": ("generate", "Gemini 2.5 Pro", 65536, 0),
    "gemini-2.5-flash-lite": ("generate", "Gemini 2.5 Flash-Lite", 65536, 0),
    "gemini-2.0-flash": ("generate", "Gemini 2.0 Flash", 8192, 0),
    "gemini-embedding-001": ("embed", "Gemini Embedding 001", 1, 3072),
    "text-embedding-004": ("embed", "Text Embedding 004", 1, 768),
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_METHODS = {
    "generateContent": "generate",
    "streamGenerateContent": "generate",
    "countTokens": "generate",
    "embedContent": "embed",
    "batchEmbedContents": "embed",
}
_NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error 404 (Not Found)!!1</title>
  <p><b>404.</b> <ins>That’s an error.</ins>
  <p>The requested URL <code>{path}</code> was not found on this server.  <ins>That’s all we know.</ins>
"""


class GeminiFake(FakeUpstream):
    """Speaks `/{v1,v1beta,v1alpha}/models/...` with the key in `x-goog-api-key` or `?key=`."""

    def __init__(
        self,
        *,
        keys: Iterable[str] = (GEMINI_KEY,),
        models: Mapping[str, tuple[str, str, int, int]] | None = None,
        seed: int | None = None,
    ) -> None:
        self.models = dict(GEMINI_MODELS if models is None else models)
        super().__init__(keys=keys, seed=seed)

    def routes(self) -> list[web.RouteDef]:
        version = "/{version:v1|v1beta|v1alpha}"
        return [
            web.post(version + "/models/{target}", self.call),
            web.get(version + "/models", self.list_models),
            web.get(version + "/models/{target}", self.get_model),
        ]

    # ---- hooks
    def authenticate(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if key is None and request.headers.get("Authorization"):
            return self.error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See https://"
                "developers.google.com/identity/sign-in/web/devconsole-project.",
                reason="ACCESS_TOKEN_TYPE_UNSUPPORTED",
            )
        if key is None:
            return self.error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call this "
                "API.",
            )
        if key not in self.keys:
            return self.error(
                400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
            )
        return None

    def error(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        code: str | None = None,
        param: str | None = None,
        reason: str | None = None,
    ) -> web.Response:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": kind or _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if reason is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
        response = web.Response(status=status, text=json.dumps({"error": error}, indent=2) + "\n")
        response.headers["Content-Type"] = JSON_TYPE
        return response

    def not_found(self, request: web.Request) -> web.Response:
        response = web.Response(status=404, text=_NOT_FOUND_PAGE.format(path=request.path))
        response.headers["Content-Type"] = "text/html; charset=UTF-8"
        return response

    def identity_headers(self) -> dict[str, str]:
        return {
            "Vary": "Origin, X-Origin, Referer",
            "Server": "scaffolding on HTTPServer2",
            "X-XSS-Protection": "0",
            "X-Frame-Options": "SAMEORIGIN",
            "X-Content-Type-Options": "nosniff",
            "Server-Timing": f"gfet4t7; dur={self.rng.randint(200, 2000)}",
            "Alt-Svc": 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000',
        }

    # ---- dispatch of POST /{version}/models/{model}:{method}
    async def call(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].partition(":")
        if method not in _METHODS:
            return self.not_found(request)
        version = request.match_info["version"]
        if model not in self.models or self.models[model][0] != _METHODS[method]:
            return self.error(
                404,
                f"models/{model} is not found for API version {version}, or is not supported "
                f"for {method}. Call ListModels to see the list of available models and their "
                "supported methods.",
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self.error(400, "Invalid JSON payload received. Unexpected token.")
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON payload received. Expected an object.")
        handler = {
            "generateContent": self.generate,
            "streamGenerateContent": self.generate,
            "countTokens": self.count_tokens,
            "embedContent": self.embed,
            "batchEmbedContents": self.batch_embed,
        }[method]
        return await handler(request, model, body, method == "streamGenerateContent")

    async def generate(
        self, request: web.Request, model: str, body: dict[str, Any], stream: bool
    ) -> web.StreamResponse:
        found = check_generate(body, self.models[model][2])
        if found is not None:
            return self.error(400, found)
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        behaviour = behaviour_of(request)
        reply = GeminiReply(
            behaviour=behaviour,
            model=model,
            response_id=self.random_id(22),
            signature=self.random_id(64) if behaviour.thinking else None,
            prompt_tokens=estimate_tokens(
                [body.get("systemInstruction"), body["contents"], body.get("tools")]
            ),
            functions=declared_functions(body),
            thoughts=includes_thoughts(body),
            grounding=behaviour.grounding and has_search_tool(body),
        )
        if not stream:
            return await self.send_json(request, reply.whole(), indent=2, content_type=JSON_TYPE)
        chunks = reply.chunks()
        error = {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        }
        headers = {"Content-Disposition": "attachment"}
        if request.query.get("alt") == "sse":
            frames = [
                Frame(json.dumps(c, separators=(",", ":"), ensure_ascii=False), tail="\r\n\r\n")
                for c in chunks
            ]
            return await self.send_stream(
                request,
                frames,
                content_type="text/event-stream",
                headers=headers,
                error_frame=Frame(json.dumps(error), tail="\r\n\r\n"),
            )
        frames = [
            Frame(json.dumps(c, indent=2, ensure_ascii=False), head="[" if i == 0 else "\n,\r\n", tail="")
            for i, c in enumerate(chunks)
        ]
        return await self.send_stream(
            request,
            frames,
            content_type=JSON_TYPE,
            headers=headers,
            closing=b"\n]",
            error_frame=Frame(json.dumps(error, indent=2), head="\n,\r\n", tail=""),
        )

    async def count_tokens(
        self, request: web.Request, model: str, body: dict[str, Any], _stream: bool
    ) -> web.StreamResponse:
        inner = body.get("generateContentRequest")
        request_name = "CountTokensRequest.generate_content_request" if inner else "CountTokensRequest"
        contents = (inner or body).get("contents")
        found = check_contents(contents, request_name)
        if found is not None:
            return self.error(400, found)
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        behaviour = behaviour_of(request)
        total = behaviour.tokens.input if behaviour.tokens else estimate_tokens(contents)
        reply = {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
        return await self.send_json(request, reply, indent=2, content_type=JSON_TYPE)

    def _embedding(self, model: str, request_body: Mapping[str, Any]) -> dict[str, Any] | str:
        content = request_body.get("content")
        if not isinstance(content, dict) or not content.get("parts"):
            return "* EmbedContentRequest.content: content is not specified\n"
        size = request_body.get("outputDimensionality") or self.models[model][3]
        return {"values": embedding_vector(json.dumps(content["parts"]), int(size))}

    async def embed(
        self, request: web.Request, model: str, body: dict[str, Any], _stream: bool
    ) -> web.StreamResponse:
        embedding = self._embedding(model, body)
        if isinstance(embedding, str):
            return self.error(400, embedding)
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        return await self.send_json(request, {"embedding": embedding}, indent=2, content_type=JSON_TYPE)

    async def batch_embed(
        self, request: web.Request, model: str, body: dict[str, Any], _stream: bool
    ) -> web.StreamResponse:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self.error(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
        embeddings = []
        for index, item in enumerate(requests):
            named = item.get("model") if isinstance(item, dict) else None
            if named != f"models/{model}":
                return self.error(
                    400,
                    f"* BatchEmbedContentsRequest.requests[{index}].model: unexpected model "
                    f"name format (expected models/{model}, got {named})\n",
                )
            embedding = self._embedding(model, item)
            if isinstance(embedding, str):
                return self.error(
                    400,
                    embedding.replace("EmbedContentRequest", f"BatchEmbedContentsRequest.requests[{index}]"),
                )
            embeddings.append(embedding)
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        return await self.send_json(request, {"embeddings": embeddings}, indent=2, content_type=JSON_TYPE)

    # ---- models
    def _model_object(self, model: str) -> dict[str, Any]:
        kind, name, output_limit, _ = self.models[model]
        methods = (
            ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
            if kind == "generate"
            else ["embedContent", "countTextTokens", "countTokens"]
        )
        described: dict[str, Any] = {
            "name": f"models/{model}",
            "version": "001",
            "displayName": name,
            "description": f"{name} (fake)",
            "inputTokenLimit": 1048576 if kind == "generate" else 2048,
            "outputTokenLimit": output_limit,
            "supportedGenerationMethods": methods,
        }
        if kind == "generate":
            described.update(
                {"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True}
            )
        return described

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        names = list(self.models)
        start = int(request.query.get("pageToken") or 0)
        size = int(request.query.get("pageSize") or 50)
        reply: dict[str, Any] = {"models": [self._model_object(m) for m in names[start : start + size]]}
        if start + size < len(names):
            reply["nextPageToken"] = str(start + size)
        return await self.send_json(request, reply, indent=2, content_type=JSON_TYPE)

    async def get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["target"]
        if model not in self.models:
            return self.error(
                404,
                f"models/{model} is not found for API version "
                f"{request.match_info['version']}, or is not supported for get. Call ListModels to "
                "see the list of available models and their supported methods.",
            )
        if (scripted := self.scripted_error(request)) is not None:
            return scripted
        return await self.send_json(request, self._model_object(model), indent=2, content_type=JSON_TYPE)
