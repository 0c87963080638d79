"""What deserves a notification, without a network: thresholds once per crossing, channel events,
reloads, and the signature a receiver checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from gateway.alerts import Watch, payload, rule_for, signature
from gateway.channel_state import ChannelState
from gateway.config import parse_config
from gateway.config.models import GatewayConfig


def config(tokens: list[dict[str, Any]] | None = None, notify: dict[str, Any] | None = None,
           keys: list[str] | None = None) -> GatewayConfig:
    data = {"channels": [{"name": "oa", "type": "openai", "base_url": "http://127.0.0.1:9",
                          "keys": keys or ["upstream-key-one-1", "upstream-key-two-2"], "models": ["*"]}],
            "tokens": tokens or [{"name": "alice", "key": "sk-alice-0123456789", "quota": 1000},
                                 {"name": "bob", "key": "sk-bob-0123456789", "quota": 1000}],
            "notify": notify or {"webhooks": [{"url": "https://hooks.example/x"}],
                                 "below": {"quota": 300, "percent": 10}}}
    return parse_config(json.dumps(data), env={})


def test_each_threshold_fires_once_as_the_balance_goes_down() -> None:
    cfg = config()
    alice = cfg.tokens[0]
    rule = rule_for(cfg, "alice")
    watch = Watch()
    assert watch.balance(alice, rule, used=600) == []  # 400 left
    [low] = watch.balance(alice, rule, used=750)  # 250 left: below 300
    assert low.event == "token_low"
    assert low.data["remaining"] == 250 and low.data["crossed"] == ["quota"]
    assert watch.balance(alice, rule, used=800) == []  # still below: no repeat
    [lower] = watch.balance(alice, rule, used=950)  # 50 left: now below 10 % too
    assert lower.data["crossed"] == ["percent"]
    assert watch.balance(alice, rule, used=1000) == []
    assert watch.balance(cfg.tokens[1], rule, used=800)[0].data["token"] == "bob"  # per token memory


def test_a_reload_raising_the_quota_rearms_the_thresholds_and_exhaustion() -> None:
    old = config()
    alice = old.tokens[0]
    watch = Watch()
    assert watch.balance(alice, rule_for(old, "alice"), used=800)
    assert watch.refused(alice) and watch.refused(alice) == []
    new = config(tokens=[{"name": "alice", "key": "sk-alice-0123456789", "quota": 5000},
                         {"name": "bob", "key": "sk-bob-0123456789", "quota": 1000}])
    alerts, recheck = watch.reloaded(old, new, lambda channel: True)
    assert alerts == [] and [t.name for t in recheck] == ["alice"]
    assert watch.balance(new.tokens[0], rule_for(new, "alice"), used=800) == []  # 4200 left: re-armed
    assert watch.refused(new.tokens[0])  # exhausted again later: news again
    assert watch.balance(new.tokens[0], rule_for(new, "alice"), used=4800)


def test_per_token_rules_replace_the_global_one_and_unlimited_tokens_never_fire() -> None:
    cfg = config(tokens=[{"name": "alice", "key": "sk-alice-0123456789", "quota": 1000},
                         {"name": "ops", "key": "sk-ops-0123456789", "unlimited": True}],
                 notify={"webhooks": [{"url": "https://hooks.example/x"}], "below": {"quota": 100},
                         "tokens": {"alice": {"percent": 50}}})
    watch = Watch()
    [low] = watch.balance(cfg.tokens[0], rule_for(cfg, "alice"), used=600)
    assert low.data["crossed"] == ["percent"]
    assert watch.balance(cfg.tokens[1], rule_for(cfg, "ops"), used=10**9) == []


def test_dollar_thresholds_are_converted_with_the_billing_rate() -> None:
    cfg = config(notify={"webhooks": [{"url": "https://hooks.example/x"}], "below": {"quota": "$0.01"}})
    assert cfg.notify.below is not None and cfg.notify.below.quota == 5000


def test_channel_events_key_then_channel_set_aside_then_recovered_each_once() -> None:
    cfg = config()
    channel = cfg.channels[0]
    state = ChannelState(key_set_aside_seconds=100)
    watch = Watch()
    first = watch.channel_events(state.set_key_aside(channel, 0, now=0, status=401))
    assert [a.event for a in first] == ["key_set_aside"]
    assert watch.channel_events(state.set_key_aside(channel, 0, now=1, status=401)) == []  # concurrent refusal
    second = watch.channel_events(state.set_key_aside(channel, 1, now=2, status=403))
    assert [a.event for a in second] == ["key_set_aside", "channel_set_aside"]
    assert "upstream-key" not in json.dumps([a.data for a in first + second])  # positions, never keys
    back = watch.channel_events(state.expire(now=101))
    assert [a.event for a in back] == ["channel_recovered"]
    assert watch.channel_events(state.expire(now=500)) == []
    assert [a.event for a in watch.channel_events(state.set_key_aside(channel, 0, now=600, status=401))] == [
        "key_set_aside"]


def test_a_reload_that_replaces_the_keys_brings_a_set_aside_channel_back() -> None:
    old = config(keys=["upstream-key-only-1"])
    state = ChannelState()
    watch = Watch()
    events = [a.event for a in watch.channel_events(state.set_key_aside(old.channels[0], 0, now=0))]
    assert events == ["key_set_aside", "channel_set_aside"]
    same, _ = watch.reloaded(old, old, lambda c: state.has_usable_key(c, 1))
    assert same == []
    new = config(keys=["upstream-key-fresh-2"])
    back, _ = watch.reloaded(old, new, lambda c: state.has_usable_key(c, 1))
    assert [(a.event, a.data["reason"]) for a in back] == [("channel_recovered", "reload")]


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    [alert] = Watch().reload_failed("api", ["channels[0].base_url: must start with http://"])
    body = payload(alert, 1_700_000_000)
    parsed = json.loads(body)
    assert parsed["event"] == "reload_failed" and parsed["time"] == "2023-11-14T22:13:20Z"
    assert parsed["data"]["problems"] == ["channels[0].base_url: must start with http://"]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body) == f"sha256={expected}"
    assert signature("s3cret", body + b" ") != signature("s3cret", body)


def test_a_reload_says_when_notify_or_metrics_changed_without_showing_webhook_urls() -> None:
    from gateway.reload import config_changes

    old = config()
    new = config(notify={"webhooks": [{"url": "https://hooks.example/T000/secret-path-123"}],
                         "below": {"quota": 300, "percent": 5}})
    changes = config_changes(old, new)
    assert changes.settings == ["notify.webhooks: changed", "notify.below: quota=300 percent=10.0 -> "
                                                           "quota=300 percent=5.0"]
    assert "secret-path-123" not in json.dumps(changes.as_dict())
