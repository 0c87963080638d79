"""Field types and value parsers the configuration models share: numbers, quota amounts, URLs, networks."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, PlainValidator, SecretStr

# The ledger stores quota in SQLite integers and JSON clients read it as doubles: stay exact in both.
MAX_QUOTA = 2**53
PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})

_DOLLARS = re.compile(r"\$\s*(\d+(?:\.\d*)?|\.\d+)")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _not_bool(value: Any) -> Any:
    # YAML turns `yes`/`true` into booleans, which pydantic would quietly read as 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]


def dollars_to_quota(text: str, quota_per_usd: int) -> int | None:
    """`"$12.50"` in quota units, rounded down with exact decimal arithmetic; None if not a dollar amount."""
    match = _DOLLARS.fullmatch(text.strip())
    if match is None:
        return None
    return int(Decimal(match.group(1)) * quota_per_usd)


def _quota_amount(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError('must be a number of quota units or a dollar amount like "$12.50"')
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("$") or not text.replace("_", "").isdigit():
            raise ValueError('must be a number of quota units or a dollar amount like "$12.50"')
    return value


QuotaAmount = Annotated[int, BeforeValidator(_quota_amount)]


def _non_empty_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


NonEmptySecret = Annotated[SecretStr, AfterValidator(_non_empty_secret)]


def _non_empty_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty_text)]


def channel_name(value: str) -> str:
    """Channel names travel in `X-Gateway-Channel` and in `sk-…#NAME` key suffixes, so keep them plain."""
    if not _CHANNEL_NAME.fullmatch(value):
        raise ValueError(
            "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def token_name(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError("must be non-empty with no leading or trailing spaces")
    if len(value) > 128 or any(not ch.isprintable() for ch in value):
        raise ValueError("must be at most 128 printable characters")
    return value


def plaintext_key(value: SecretStr) -> SecretStr:
    key = value.get_secret_value()
    if not key:
        raise ValueError("must not be empty")
    if any(ch.isspace() for ch in key):
        raise ValueError("must not contain whitespace")
    if "#" in key:
        raise ValueError("must not contain '#' (callers use sk-…#CHANNEL to pick a channel)")
    return value


def sha256_hex(value: str) -> str:
    digest = value.strip().lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise ValueError("must be 64 hexadecimal characters (the SHA-256 of the key; see `gateway hash-key`)")
    return digest


def _split_url(value: str) -> SplitResult:
    parts = urlsplit(value)
    if not parts.hostname:
        raise ValueError("has no host")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("has an invalid port") from None
    return parts


def base_url(value: str) -> str:
    """An upstream's http(s) address without a trailing slash; credentials belong in `keys`, not here."""
    value = value.strip()
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    parts = _split_url(value)
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials; put keys in `keys` or `headers`")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment; put keys in `keys`")
    return value.rstrip("/")


def proxy_url(value: str) -> str:
    value = value.strip()
    scheme = value.partition("://")[0].lower() if "://" in value else ""
    if scheme not in PROXY_SCHEMES:
        raise ValueError("must start with http://, https://, socks5:// or socks5h://")
    _split_url(value)
    return value


def without_credentials(url: str, mask: str) -> str:
    """The URL with any user:password replaced by `mask`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=f"{mask}@{parts.netloc.rpartition('@')[2]}").geturl()


def header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError("is not a valid HTTP header name")
    return value


def header_value(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("must not contain line breaks or NUL")
    return value


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError("must be an IP address or a CIDR network such as 10.0.0.0/8")
    text = value.strip()
    try:
        return ipaddress.ip_network(text)  # a bare address becomes a /32 or /128
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError("must be an IP address or a CIDR network such as 10.0.0.0/8") from None
    raise ValueError(f"has host bits set; did you mean {loose}?")


IPNetwork = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    PlainValidator(_network),
    PlainSerializer(str, return_type=str),
]


def _aware_datetime(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(), UTC)
    return value


def _utc_if_naive(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


AwareDatetime = Annotated[datetime, BeforeValidator(_aware_datetime), AfterValidator(_utc_if_naive)]


def _date_as_text(value: Any) -> Any:
    # YAML reads an unquoted 2023-06-01 as a date; the header wants the text back.
    if isinstance(value, date):
        return value.isoformat()
    return value


DateText = Annotated[str, BeforeValidator(_date_as_text)]
