"""Where and with which headers a call goes upstream, per channel type (pure; keys only in headers).

URL rules (documented for operators in the README):
- openai: `base_url` + `/v1/<endpoint>`, or + `/<endpoint>` when `base_url` already ends in a version
  segment (`/v1`, `/v4`, `/v1beta`, …) or `/openai` (Groq `…/openai/v1`, Gemini `…/v1beta/openai`).
- anthropic: `base_url` + `/v1/messages` (`/v1/messages/count_tokens`, `/v1/models`); a base already
  ending in `/v1` gets no second one.
- gemini: `base_url` + `/{version}/models/{model}:{method}` (`?alt=sse` for streams), version default
  `v1beta`; a base already ending in a version segment keeps its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from gateway.protocols import Protocol

if TYPE_CHECKING:
    from pydantic import SecretStr

    from gateway.config.models import Channel

USER_AGENT = "gateway/0.1"

_VERSION_SEGMENT = re.compile(r"v\d+[a-z0-9]*")

# Endpoint names are the values of gateway.call.Endpoint, plus "models" for listings.
_OPENAI_PATHS = {"chat": "chat/completions", "embeddings": "embeddings", "completions": "completions",
                 "responses": "responses", "models": "models"}
_ANTHROPIC_PATHS = {"chat": "messages", "count_tokens": "messages/count_tokens", "models": "models"}
_GEMINI_METHODS = {"chat": "generateContent", "embeddings": "embedContent", "count_tokens": "countTokens"}


def _last_segment(base_url: str) -> str:
    path = base_url.split("://", 1)[-1].partition("/")[2]
    return path.rstrip("/").rpartition("/")[2].lower()


def _ends_in_version(base_url: str) -> bool:
    return _VERSION_SEGMENT.fullmatch(_last_segment(base_url)) is not None


def upstream_url(channel: Channel, endpoint: str, *, model: str | None = None, stream: bool = False,
                 version: str = "v1beta", method: str | None = None) -> str:
    """The URL of `endpoint` ("chat", "embeddings", "completions", "responses", "count_tokens",
    "models") on `channel`. For gemini, `method` (e.g. "batchEmbedContents") overrides the method
    derived from the endpoint, and `stream` asks for `streamGenerateContent?alt=sse`.
    Raises ValueError for an endpoint the channel type does not have.
    """
    base = channel.base_url.rstrip("/")
    kind = Protocol(channel.type)
    if kind is Protocol.OPENAI:
        path = _path(_OPENAI_PATHS, endpoint, kind)
        prefix = "" if _ends_in_version(base) or _last_segment(base) == "openai" else "/v1"
        return f"{base}{prefix}/{path}"
    if kind is Protocol.ANTHROPIC:
        path = _path(_ANTHROPIC_PATHS, endpoint, kind)
        prefix = "" if _last_segment(base) == "v1" else "/v1"
        return f"{base}{prefix}/{path}"
    root = base if _ends_in_version(base) else f"{base}/{quote(version, safe='')}"
    if endpoint == "models":
        return f"{root}/models" + (f"/{_quote_model(model)}" if model else "")
    method = method or _path(_GEMINI_METHODS, endpoint, kind)
    if model is None:
        raise ValueError("a gemini call needs the model in its URL")
    if stream and method == "generateContent":
        method = "streamGenerateContent"
    url = f"{root}/models/{_quote_model(model)}:{method}"
    return url + "?alt=sse" if method == "streamGenerateContent" else url


def _path(table: Mapping[str, str], endpoint: str, kind: Protocol) -> str:
    try:
        return table[str(endpoint)]
    except KeyError:
        raise ValueError(f"{kind.value} channels have no {endpoint!r} endpoint") from None


def _quote_model(model: str | None) -> str:
    name = (model or "").removeprefix("models/")
    return quote(name, safe="-._~@")  # a model name never adds path segments or a query


def upstream_headers(channel: Channel, key: SecretStr | None, extra: Mapping[str, str] | None = None, *,
                     stream: bool = False) -> dict[str, str]:
    """The complete outbound header set: content type, accept, the caller headers the pipeline chose
    to pass on (`extra`, e.g. anthropic-beta), the channel's own `headers`, then what the channel
    decides alone: `anthropic-version` for anthropic and the credential in its type's header.
    Nothing else of the caller's is included; a key never goes anywhere but its header. A keyless
    channel may carry its credential in `headers`.
    """
    headers: dict[str, str] = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "User-Agent": USER_AGENT,
    }
    for name, value in [*(extra or {}).items(), *channel.headers.items()]:
        _set(headers, name, value)
    kind = Protocol(channel.type)
    if kind is Protocol.ANTHROPIC:
        _set(headers, "anthropic-version", channel.anthropic_version)
    if key is not None:
        for name in ("Authorization", "x-api-key", "x-goog-api-key"):
            _drop(headers, name)  # one credential: the key being used
        secret = key.get_secret_value()
        credential = {Protocol.OPENAI: ("Authorization", f"Bearer {secret}"),
                      Protocol.ANTHROPIC: ("x-api-key", secret),
                      Protocol.GEMINI: ("x-goog-api-key", secret)}[kind]
        headers[credential[0]] = credential[1]
    return headers


def _set(headers: dict[str, str], name: str, value: str) -> None:
    _drop(headers, name)  # header names are case-insensitive: one entry per name
    headers[name] = value


def _drop(headers: dict[str, str], name: str) -> None:
    for existing in [h for h in headers if h.lower() == name.lower()]:
        del headers[existing]
