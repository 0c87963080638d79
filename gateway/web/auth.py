"""Who is calling: the caller's key from each door's header, the token it names, and the token's checks."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from aiohttp import web

from gateway.config.models import GatewayConfig, Token
from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError

CHANNEL_HEADER = "X-Gateway-Channel"


@dataclass(frozen=True, slots=True)
class Caller:
    token: Token
    forced_channel: str | None = None
    excluded_channel: str | None = None
    config: GatewayConfig | None = None  # the snapshot the token was found in; the call keeps it


def presented_key(request: web.Request, door: Protocol) -> str | None:
    """The key as the caller sent it, from the header its protocol uses (SPEC §2)."""
    headers = request.headers
    bearer = _bearer(headers.get("Authorization", ""))
    if door is Protocol.ANTHROPIC:
        return headers.get("x-api-key") or bearer
    if door is Protocol.GEMINI:
        return headers.get("x-goog-api-key") or request.query.get("key") or bearer
    return bearer


def _bearer(value: str) -> str | None:
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return None


def authenticate(request: web.Request, config: GatewayConfig, door: Protocol, *, now: datetime | None = None
                 ) -> Caller:
    """The calling token, checked for being enabled, unexpired and allowed from this address."""
    key = presented_key(request, door)
    if not key:
        raise GatewayError("invalid_api_key", "Missing API key. Pass it the way your SDK does.")
    key, forced, excluded = split_channel_suffix(key)
    token = config.find_token(hashlib.sha256(key.encode()).hexdigest())
    if token is None or not token.enabled:
        raise GatewayError("invalid_api_key", "Incorrect API key provided.")
    if token.expires_at is not None and (now or datetime.now(UTC)) >= token.expires_at:
        raise GatewayError("invalid_api_key", "This API key has expired.")
    if token.ips and not _ip_allowed(token, request.remote or ""):
        raise GatewayError("permission", "Requests from this IP address are not allowed for this key.")
    header_channel = request.headers.get(CHANNEL_HEADER)
    if header_channel and not forced:
        forced = header_channel.strip()
    if (forced or excluded) and not token.channel_select:
        raise GatewayError("permission", "This key may not choose a channel.")
    return Caller(token=token, forced_channel=forced or None, excluded_channel=excluded or None,
                  config=config)


def split_channel_suffix(key: str) -> tuple[str, str | None, str | None]:
    """`sk-…#NAME` forces channel NAME; `sk-…#!NAME` excludes it (SPEC §5)."""
    key, sep, suffix = key.partition("#")
    if not sep or not suffix:
        return key, None, None
    if suffix.startswith("!"):
        return key, None, suffix[1:] or None
    return key, suffix, None


def _ip_allowed(token: Token, remote: str) -> bool:
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in token.ips or ())


def check_model(token: Token, model: str) -> None:
    if token.models is not None and not any(fnmatchcase(model, p) for p in token.models):
        raise GatewayError("permission", f"This key may not use model {model}.")


def constant_time_equal(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())
