"""The gateway's configuration as frozen pydantic models whose attribute names are the YAML keys (SPEC §3)."""

from __future__ import annotations

import hashlib
import zoneinfo
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from gateway.config.checks import cross_check
from gateway.config.fields import (
    MAX_QUOTA,
    AwareDatetime,
    DateText,
    Float,
    Int,
    IPNetwork,
    NonEmptySecret,
    NonEmptyStr,
    QuotaAmount,
    base_url,
    channel_name,
    dollars_to_quota,
    header_name,
    header_value,
    plaintext_key,
    proxy_url,
    sha256_hex,
    token_name,
)
from gateway.protocols import Protocol

DEFAULT_GROUP = "default"
DEFAULT_QUOTA_PER_USD = 500_000
_LISTS = ("channels", "tokens")


HeaderName = Annotated[str, AfterValidator(header_name)]
HeaderValue = Annotated[str, AfterValidator(header_value)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ServerConfig(_Section):
    host: NonEmptyStr = "127.0.0.1"
    port: Int = Field(default=8080, ge=0, le=65535)
    admin_key: NonEmptySecret | None = None
    timezone: str = "UTC"
    max_body_bytes: Int = Field(default=20_000_000, gt=0)
    shutdown_grace_seconds: Float = Field(default=30, ge=0)
    write_timeout_seconds: Float = Field(default=30, gt=0)  # per write to a caller that stops reading
    body_timeout_seconds: Float = Field(default=60, gt=0)  # for the body to arrive after the headers

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as UTC or Europe/Berlin)"
            ) from None
        return value


class DatabaseConfig(_Section):
    path: NonEmptyStr = "data/gateway.db"
    # FULL: every commit is fsynced, so a settled charge survives a power cut. NORMAL: a commit survives
    # the process being killed but the last few may be lost with the machine; holds stop waiting on
    # the disk (docs/operating.md).
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    busy_timeout_ms: Int = Field(default=5000, gt=0)  # how long a write waits for another process's lock


class BillingConfig(_Section):
    quota_per_usd: Int = Field(default=DEFAULT_QUOTA_PER_USD, gt=0)
    hold_output_tokens: Int = Field(default=4096, ge=0)


class Price(_Section):
    """USD per 1M tokens of each kind; `per_request` is USD per call."""

    input: Float | None = Field(default=None, ge=0)
    output: Float | None = Field(default=None, ge=0)
    cached_input: Float | None = Field(default=None, ge=0)
    cache_write: Float | None = Field(default=None, ge=0)
    per_request: Float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_price(self) -> Self:
        if all(
            v is None
            for v in (self.input, self.output, self.cached_input, self.cache_write, self.per_request)
        ):
            raise ValueError("give at least one of input, output, cached_input, cache_write, per_request")
        return self


class GroupConfig(_Section):
    multiplier: Float = Field(default=1.0, ge=0)


class RoutingConfig(_Section):
    retries: Int = Field(default=2, ge=0)
    cooldown_seconds: Float = Field(default=30, ge=0)
    key_set_aside_seconds: Float = Field(default=3600, gt=0)  # a key answered with 401/403 sits out this long
    max_cooldown_seconds: Float = Field(default=3600, gt=0)  # caps every cooldown, Retry-After included


class Timeouts(_Section):
    connect: Float = Field(default=10, gt=0)
    first_byte: Float = Field(default=120, gt=0)
    idle: Float = Field(default=60, gt=0)


class Channel(_Section):
    name: Annotated[str, AfterValidator(channel_name)]
    type: Protocol
    base_url: Annotated[str, AfterValidator(base_url)]
    keys: list[NonEmptySecret] = Field(default_factory=list)
    models: list[NonEmptyStr] = Field(min_length=1)
    model_map: dict[NonEmptyStr, NonEmptyStr] = Field(default_factory=dict)
    groups: list[NonEmptyStr] = Field(default_factory=lambda: [DEFAULT_GROUP], min_length=1)
    priority: Int = 0
    weight: Int = Field(default=1, ge=0)
    multiplier: Float = Field(default=1.0, ge=0)
    proxy: Annotated[str, AfterValidator(proxy_url)] | None = None
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    enabled: bool = True
    anthropic_version: DateText = "2023-06-01"


class MetricsConfig(_Section):
    """`GET /metrics`: open to scrapers when `public` or when no admin key is set, else admin key only.
    Series labelled by token name exist only with `token_labels`, and are shown only to the admin key."""

    enabled: bool = True
    public: bool = False
    token_labels: bool = False


NotifyEvent = Literal["token_low", "token_exhausted", "key_set_aside", "channel_set_aside",
                      "channel_recovered", "reload_failed"]


def _webhook_url(value: SecretStr) -> SecretStr:
    url = value.get_secret_value().strip()
    if not url.lower().startswith(("http://", "https://")) or not urlsplit(url).hostname:
        raise ValueError("must be an http:// or https:// address with a host")
    return SecretStr(url)


class Webhook(_Section):
    url: Annotated[SecretStr, AfterValidator(_webhook_url)]  # a secret: many hooks carry a token in the path
    secret: NonEmptySecret | None = None  # signs the body: X-Gateway-Signature: sha256=<hex HMAC>
    events: list[NotifyEvent] | None = Field(default=None, min_length=1)  # None: every event


class Threshold(_Section):
    """A token is low when its remaining quota (grant − used) is below `quota` units or `percent` %."""

    quota: QuotaAmount | None = Field(default=None, ge=0, le=MAX_QUOTA)
    percent: Float | None = Field(default=None, gt=0, lt=100)


class NotifyConfig(_Section):
    webhooks: list[Webhook] = Field(default_factory=list)
    below: Threshold | None = None  # for every token with a quota
    tokens: dict[NonEmptyStr, Threshold] = Field(default_factory=dict)  # per token, replaces `below`
    timeout_seconds: Float = Field(default=10, gt=0)
    attempts: Int = Field(default=3, ge=1, le=10)
    retry_delay_seconds: Float = Field(default=2, ge=0)  # doubled after each failed attempt
    queue_size: Int = Field(default=200, ge=1)


class Token(_Section):
    name: Annotated[str, AfterValidator(token_name)]
    key: Annotated[SecretStr, AfterValidator(plaintext_key)] | None = None
    key_sha256: Annotated[str, AfterValidator(sha256_hex)] | None = None
    quota: QuotaAmount | None = Field(default=None, ge=0, le=MAX_QUOTA)
    unlimited: bool = False
    group: NonEmptyStr = DEFAULT_GROUP
    models: list[NonEmptyStr] | None = Field(default=None, min_length=1)
    ips: list[IPNetwork] | None = Field(default=None, min_length=1)
    expires_at: AwareDatetime | None = None
    rpm: Int | None = Field(default=None, ge=1)
    tpm: Int | None = Field(default=None, ge=1)
    max_concurrent: Int | None = Field(default=None, ge=1)
    channel_select: bool = False
    enabled: bool = True

    _key_hash: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _one_key_one_quota(self) -> Self:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of key or key_sha256")
        if (self.quota is None) == (not self.unlimited):
            raise ValueError("give exactly one of quota or unlimited: true")
        return self

    def model_post_init(self, context: Any, /) -> None:
        if self.key is not None:
            self._key_hash = hashlib.sha256(self.key.get_secret_value().encode()).hexdigest()
        else:
            self._key_hash = self.key_sha256 or ""

    @property
    def key_hash(self) -> str:
        """SHA-256 (lowercase hex) of the key callers present."""
        return self._key_hash

    @property
    def grant(self) -> int | None:
        """Quota units granted by the configuration; None when unlimited."""
        return None if self.unlimited else self.quota


class GatewayConfig(_Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    billing: BillingConfig = Field(default_factory=BillingConfig)
    pricing: dict[NonEmptyStr, Price] = Field(default_factory=dict)
    groups: dict[NonEmptyStr, GroupConfig] = Field(default_factory=lambda: {DEFAULT_GROUP: GroupConfig()})
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    channels: list[Channel]
    tokens: list[Token]

    _tokens_by_hash: dict[str, Token] = PrivateAttr(default_factory=dict)
    _channels_by_name: dict[str, Channel] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """Read empty sections as absent, make sure group `default` exists, and turn `"$12.50"` quotas into
        units (which needs billing.quota_per_usd, hence here and not on Token)."""
        if not isinstance(data, dict):
            return data
        # A section whose entries are all commented out is null in YAML.
        data = {key: value for key, value in data.items() if value is not None or key in _LISTS}
        data.update({key: [] for key in _LISTS if key in data and data[key] is None})
        groups = data.get("groups")
        if isinstance(groups, dict) and DEFAULT_GROUP not in groups:
            data["groups"] = {DEFAULT_GROUP: {}, **groups}
        tokens = data.get("tokens")
        if isinstance(tokens, list):
            rate = _quota_per_usd(data.get("billing"))
            data["tokens"] = [_token_with_units(token, rate) for token in tokens]
        notify = data.get("notify")
        if isinstance(notify, dict):
            data["notify"] = _notify_with_units(notify, _quota_per_usd(data.get("billing")))
        return data

    @model_validator(mode="after")
    def _cross_checked(self) -> Self:
        problems = cross_check(self.model_dump())
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(type=PydanticCustomError("config", message), loc=loc, input=None)
                    for loc, message in problems
                ],
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._tokens_by_hash = {token.key_hash: token for token in self.tokens}
        self._channels_by_name = {channel.name: channel for channel in self.channels}

    def find_token(self, key_sha256_hex: str) -> Token | None:
        """The token whose key hashes to this SHA-256 (lowercase hex), if any."""
        return self._tokens_by_hash.get(key_sha256_hex)

    def channel(self, name: str) -> Channel | None:
        return self._channels_by_name.get(name)

    def group(self, name: str) -> GroupConfig:
        """The named group; every token's and channel's group is known to exist (KeyError otherwise)."""
        return self.groups[name]


def _quota_per_usd(billing: Any) -> int:
    # An invalid rate is reported at billing.quota_per_usd; convert with the default meanwhile
    # so the tokens do not pile up follow-on errors.
    raw = billing.get("quota_per_usd") if isinstance(billing, dict) else None
    try:
        rate = int(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else DEFAULT_QUOTA_PER_USD
    except ValueError:
        return DEFAULT_QUOTA_PER_USD
    return rate if rate > 0 else DEFAULT_QUOTA_PER_USD


def _token_with_units(token: Any, rate: int) -> Any:
    if isinstance(token, dict) and isinstance(token.get("quota"), str):
        units = dollars_to_quota(token["quota"], rate)
        if units is not None:
            return {**token, "quota": units}
    return token


def _notify_with_units(notify: dict[str, Any], rate: int) -> dict[str, Any]:
    notify = dict(notify)
    if isinstance(notify.get("below"), dict):
        notify["below"] = _token_with_units(notify["below"], rate)
    if isinstance(notify.get("tokens"), dict):
        notify["tokens"] = {name: _token_with_units(rule, rate) for name, rule in notify["tokens"].items()}
    return notify
