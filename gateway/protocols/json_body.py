"""A caller's request body as one strict JSON object, refused (400/415) whenever parsers could disagree.

Python's `json` accepts what upstream parsers may read differently or not at all: duplicate keys (last
wins here, maybe first there), `NaN`/`Infinity` and numbers that overflow to infinity, lone UTF-16
surrogates, and bytes that are not UTF-8. Any of them is refused, so the body the gateway authorises
and bills is the body the upstream reads, whether the raw bytes or a re-serialisation go out. Fields
that would choose where a call goes or with which key (`api_base`, `base_url`, `api_key`, …) are
refused too: only the operator's configuration picks upstreams (an upstream that is itself a proxy
might honour them with the channel's key).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from gateway.protocols.errors import GatewayError

# Content types read as JSON: SDKs send application/json; text/plain is what generic HTTP clients
# label a string body with. Forms, multipart and the rest are refused.
_JSON_TYPES = frozenset({"", "application/json", "text/plain"})
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
# Names (lower-cased, without `_` and `-`) of fields that set an upstream URL or credential.
TARGET_FIELDS = frozenset({
    "apibase", "baseurl", "apiurl", "apiendpoint", "endpoint", "endpointurl", "azureendpoint",
    "apikey", "apitoken", "azureadtoken", "awsaccesskeyid", "awssecretaccesskey", "awssessiontoken",
    "vertexcredentials", "proxy", "proxyurl",
})
# Subtrees holding the caller's content and schemas, where any field name is the caller's data (a
# tool parameter called `endpoint`, a tool call's `base_url` argument, user metadata keys).
_CONTENT_FIELDS = frozenset({
    "messages", "contents", "content", "system", "systeminstruction", "tools", "toolchoice", "input",
    "prompt", "instructions", "responseformat", "text", "metadata", "labels", "prediction", "parts",
    "parameters", "schema", "inputschema", "responseschema", "responsejsonschema", "properties",
    "arguments", "args", "functioncall", "functionresponse", "response", "requests",
    "generatecontentrequest", "mcpservers",
})


def _folded(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def check_content_type(content_type: str | None) -> None:
    """A body labelled as something other than JSON is refused before it is read."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    raise GatewayError("invalid_request", f"Content-Type must be application/json, not {media[:80]!r}.")


def check_content_encoding(content_encoding: str | None) -> None:
    """Compressed request bodies are refused (415): inflating them is a memory risk (zip bombs) that
    no official SDK needs."""
    coding = (content_encoding or "").strip().lower()
    if coding not in ("", "identity"):
        raise GatewayError("unsupported_media",
                           f"Content-Encoding {coding[:40]!r} is not accepted; send the body uncompressed.")


def parse_object(raw: bytes) -> dict[str, Any]:
    """`raw` as a JSON object, or a 400 naming what is wrong with it."""
    if not raw.strip():
        raise GatewayError("invalid_request", "Request body is empty; a JSON object is required.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GatewayError("invalid_request", "Request body is not valid UTF-8.") from None
    try:
        body = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant,
                          parse_float=_finite_float)
    except _Refused as refused:
        raise GatewayError("invalid_request", f"Request body is not acceptable JSON: {refused}.") from None
    except RecursionError:
        raise GatewayError("invalid_request", "Request body is nested too deeply.") from None
    except ValueError:  # JSONDecodeError, and integers longer than Python converts
        raise GatewayError("invalid_request", "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise GatewayError("invalid_request", "Request body must be a JSON object.")
    if _ESCAPED_SURROGATE.search(text):  # rare: only then can a lone surrogate hide in a string
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise GatewayError("invalid_request",
                               "Request body holds a lone UTF-16 surrogate (\\ud800-\\udfff).") from None
    return body


def refuse_target_fields(body: Mapping[str, Any]) -> None:
    """A 400 if the body, outside the caller's content and schemas, names an upstream URL or key."""
    pending: list[Any] = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(value)
            continue
        if not isinstance(value, Mapping):
            continue
        for name, inner in value.items():
            folded = _folded(name)
            if folded in TARGET_FIELDS:
                raise GatewayError("invalid_request", f"The field {name[:60]!r} is not accepted: the gateway "
                                   "chooses the upstream and its credentials.", param=name[:60])
            if folded not in _CONTENT_FIELDS:
                pending.append(inner)


class _Refused(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key[:60]!r} in an object")
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value
