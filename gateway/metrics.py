"""Prometheus metrics of one gateway process, in registries the app owns (never the global one).

Counters move as calls finish (`call_finished`, once per log row); gauges that describe state (calls in
flight, held quota, channel cooldowns and keys set aside) are set from the runtime just before a scrape.
Label values are bounded: doors, outcomes and status classes are fixed sets, channels come from the
configuration, and a model is a label only when the configuration names it literally or an upstream
answered it successfully (at most MAX_MODELS of those); anything else is counted as "other". Token names
appear only in the separate token registry, kept when `metrics.token_labels` is on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from gateway.config.models import GatewayConfig
from gateway.ledger.base import LogRow, Outcome, TokenBalance

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_MODELS = 200
OTHER = "other"
_WILDCARD = frozenset("*?[")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
_CALL = ("door", "model", "channel")


def _literal_models(config: GatewayConfig) -> frozenset[str]:
    names: set[str] = set(config.pricing)
    for channel in config.channels:
        names.update(channel.models)
        names.update(channel.model_map)
    return frozenset(n for n in names if not _WILDCARD & set(n))


def status_class(status: int) -> str:
    return f"{status // 100}xx" if status > 0 else "none"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.token_registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("gateway_requests", "Calls that passed authentication, one per log row.",
                                [*_CALL, "endpoint", "outcome", "status_class"], registry=r)
        self.latency = Histogram("gateway_request_duration_seconds", "Arrival to settlement of a call.",
                                 _CALL, buckets=LATENCY_BUCKETS, registry=r)
        self.first_byte = Histogram("gateway_time_to_first_byte_seconds",
                                    "Arrival to the first byte sent to the caller.", _CALL,
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.overhead = Histogram("gateway_overhead_seconds",
                                  "Time spent in the gateway itself: arrival to the first upstream send, "
                                  "plus relaying the reply (upstream waits excluded).", ["door"],
                                  buckets=OVERHEAD_BUCKETS, registry=r)
        self.quota = Counter("gateway_quota_charged", "Quota units charged at settlement.",
                             ["model", "channel"], registry=r)
        self.usage = Counter("gateway_usage_tokens", "Tokens billed, by kind.", ["model", "kind"], registry=r)
        self.attempts = Counter("gateway_upstream_attempts", "Upstream attempts made by calls.", registry=r)
        self.failovers = Counter("gateway_failovers", "Attempts after the first one of a call (another "
                                 "key or channel tried).", registry=r)
        self.upstream_failures = Counter("gateway_upstream_failures",
                                         "Failed upstream attempts (the channel was told).",
                                         ["channel", "status_class"], registry=r)
        self.rate_limited = Counter("gateway_rate_limited", "Calls refused by a token rate limit.",
                                    ["limit"], registry=r)
        self.reloads = Counter("gateway_config_reloads", "Configuration reloads.", ["result"], registry=r)
        self.notifications = Counter("gateway_notifications", "Webhook deliveries, after all attempts.",
                                     ["event", "result"], registry=r)
        self.notifications_dropped = Counter("gateway_notifications_dropped",
                                             "Notifications dropped because the queue was full.", registry=r)
        self.in_flight = Gauge("gateway_calls_in_flight", "Calls being served.", registry=r)
        self.held = Gauge("gateway_quota_held", "Quota units held by open holds (from the ledger).",
                          registry=r)
        self.cooling = Gauge("gateway_channel_cooling_models", "Models for which a channel is cooling down.",
                             ["channel"], registry=r)
        self.keys_set_aside = Gauge("gateway_channel_keys_set_aside", "Keys of a channel set aside.",
                                    ["channel"], registry=r)
        self.keys_usable = Gauge("gateway_channel_keys_usable", "Keys of a channel in use.", ["channel"],
                                 registry=r)
        self.enabled = Gauge("gateway_channel_enabled", "1 when the channel is enabled.", ["channel"],
                             registry=r)
        t = self.token_registry
        self.token_requests = Counter("gateway_token_requests", "Calls per token.", ["token", "outcome"],
                                      registry=t)
        self.token_quota = Counter("gateway_token_quota_charged", "Quota units charged per token.",
                                   ["token"], registry=t)
        self.token_held = Gauge("gateway_token_quota_held", "Quota units held per token.", ["token"],
                                registry=t)
        self.token_remaining = Gauge("gateway_token_quota_remaining",
                                     "Grant − used − held per token (tokens with a quota).", ["token"],
                                     registry=t)
        self._config: GatewayConfig | None = None
        self._literal: frozenset[str] = frozenset()
        self._channels: frozenset[str] = frozenset()
        self._answered: set[str] = set()
        # labelled children by (metric, *labels): `labels()` costs microseconds, a dict lookup does not
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # --- as calls happen -----------------------------------------------------------------------------

    def model_label(self, config: GatewayConfig, model: str, outcome: Outcome) -> str:
        if config is not self._config:
            self._config, self._literal = config, _literal_models(config)
            self._channels = frozenset(c.name for c in config.channels)
        if model in self._literal or model in self._answered:
            return model
        if outcome is Outcome.OK and len(self._answered) < MAX_MODELS:
            self._answered.add(model)
            return model
        return OTHER

    def call_finished(self, config: GatewayConfig, row: LogRow, *, held: bool = False,
                      overhead: float | None = None) -> None:
        """Count one finished call from its final log row (once per row). Durations are observed for
        calls that took a hold (`held`), not for those refused before it."""
        model = self.model_label(config, row.model, row.outcome)
        channel = row.channel if row.channel in self._channels else ""
        call = (row.protocol, model, channel)
        self._child(self.requests, *call, row.endpoint, row.outcome.value, status_class(row.status)).inc()
        if held:  # model calls only: refusals and free token counts would blur the latencies
            self._child(self.latency, *call).observe(row.request_time_ms / 1000)
            if row.first_byte_ms is not None:
                self._child(self.first_byte, *call).observe(row.first_byte_ms / 1000)
        if overhead is not None:
            self._child(self.overhead, row.protocol).observe(overhead)
        if row.attempts:
            self.attempts.inc(row.attempts)
            if row.attempts > 1:
                self.failovers.inc(row.attempts - 1)
        if row.quota:
            self._child(self.quota, model, channel).inc(row.quota)
        for kind, count in (("prompt", row.prompt_tokens), ("cached", row.cached_tokens),
                            ("cache_write", row.cache_write_tokens), ("completion", row.completion_tokens)):
            if count:
                self._child(self.usage, model, kind).inc(count)
        if config.metrics.token_labels:
            self._child(self.token_requests, row.token, row.outcome.value).inc()
            if row.quota:
                self._child(self.token_quota, row.token).inc(row.quota)

    def upstream_failed(self, channel: str, status: int | None) -> None:
        self.upstream_failures.labels(channel, status_class(status or 0)).inc()

    def reloaded(self, *, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    # --- at scrape time ------------------------------------------------------------------------------

    def refresh(self, config: GatewayConfig, *, in_flight: int, channels: Iterable[Mapping[str, Any]],
                balances: Mapping[str, TokenBalance] | None) -> None:
        """Set the state gauges; `channels` is `ChannelState.snapshot(...)["channels"]`, `balances` the
        ledger's (None when it could not be read: the ledger gauges keep their last values)."""
        self.in_flight.set(in_flight)
        for gauge in (self.cooling, self.keys_set_aside, self.keys_usable, self.enabled):
            gauge.clear()  # channels removed by a reload disappear
        for channel in channels:
            name = channel["name"]
            self.cooling.labels(name).set(len(channel["cooldowns"]))
            self.keys_set_aside.labels(name).set(len(channel["keys"]["set_aside"]))
            self.keys_usable.labels(name).set(channel["keys"]["usable"])
            self.enabled.labels(name).set(1 if channel["enabled"] else 0)
        if balances is None:
            return
        self.held.set(sum(b.held for b in balances.values()))
        self.token_held.clear()
        self.token_remaining.clear()
        if not config.metrics.token_labels:
            return
        for token in config.tokens:
            balance = balances.get(token.name) or TokenBalance(token.name, 0, 0)
            self.token_held.labels(token.name).set(balance.held)
            if token.grant is not None:
                self.token_remaining.labels(token.name).set(token.grant - balance.used - balance.held)

    def exposition(self, *, with_tokens: bool) -> bytes:
        """The text format; token-labelled series only when `with_tokens` (the admin key was shown)."""
        text = generate_latest(self.registry)
        if with_tokens:
            text += generate_latest(self.token_registry)
        return bytes(text)
