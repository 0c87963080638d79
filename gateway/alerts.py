"""What deserves a notification, each once per crossing: tokens running low or out, channels and keys
set aside and back, failed reloads. Pure: takes facts, returns alerts, remembers what it announced.

- token_low: remaining (grant − used; open holds do not count, they come back) below a threshold
  (`notify.tokens.<name>`, else `notify.below`). Each threshold fires once and fires again only after the
  token rose above it, which only a reload raising its quota can do.
- token_exhausted: a hold was refused for quota; again only after a reload changes the token's quota.
- key_set_aside / channel_set_aside: the upstream refused a key (401/403) / no key of the channel is left;
  once until the key comes back. Cooldowns (429, 5xx) are short and automatic: they are not announced.
- channel_recovered: a channel announced as set aside has a usable key again (expiry or reload).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.channel_state import StateEvent
from gateway.config.models import Channel, GatewayConfig, Threshold, Token

EVENTS = ("token_low", "token_exhausted", "key_set_aside", "channel_set_aside", "channel_recovered",
          "reload_failed")
SIGNATURE_HEADER = "X-Gateway-Signature"


@dataclass(frozen=True, slots=True)
class Alert:
    event: str
    text: str  # one human sentence (Slack-compatible hooks show `text`)
    data: dict[str, Any] = field(default_factory=dict)


def payload(alert: Alert, now: float) -> bytes:
    """The JSON body POSTed to webhooks."""
    when = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return json.dumps({"event": alert.event, "time": when, "text": alert.text, "data": alert.data},
                      separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """`X-Gateway-Signature` value: HMAC-SHA256 of the raw body under the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def rule_for(config: GatewayConfig, token: str) -> Threshold | None:
    return config.notify.tokens.get(token, config.notify.below)


def crossed(rule: Threshold, grant: int, used: int) -> set[str]:
    """Which of the rule's thresholds the token is below."""
    remaining = grant - used
    below: set[str] = set()
    if rule.quota is not None and remaining < rule.quota:
        below.add("quota")
    if rule.percent is not None and remaining * 100 < rule.percent * grant:
        below.add("percent")
    return below


class Watch:
    """The memory behind 'once per crossing'. Per process: a restart announces a standing state again."""

    def __init__(self) -> None:
        self._low: dict[str, set[str]] = {}  # token -> thresholds announced
        self._exhausted: set[str] = set()
        self._keys: set[tuple[str, int]] = set()  # (channel, key index) announced as set aside
        self._channels: set[str] = set()  # channels announced as set aside

    def balance(self, token: Token, rule: Threshold | None, used: int) -> list[Alert]:
        grant = token.grant
        if grant is None or rule is None:
            self._low.pop(token.name, None)
            return []
        below = crossed(rule, grant, used)
        new = below - self._low.get(token.name, set())
        self._low[token.name] = below  # those no longer crossed may fire again
        if not new:
            return []
        remaining = grant - used
        percent = round(remaining * 100 / grant, 2) if grant else 0.0
        return [Alert("token_low", f"Token {token.name} is running low: {remaining} of {grant} quota left "
                                   f"({percent}%).",
                      {"token": token.name, "grant": grant, "used": used, "remaining": remaining,
                       "percent_left": percent, "crossed": sorted(new),
                       "threshold": rule.model_dump(exclude_none=True)})]

    def refused(self, token: Token) -> list[Alert]:
        if token.name in self._exhausted:
            return []
        self._exhausted.add(token.name)
        return [Alert("token_exhausted", f"Token {token.name} ran out of quota: a call was refused.",
                      {"token": token.name, "grant": token.grant})]

    def channel_events(self, events: Iterable[StateEvent]) -> list[Alert]:
        alerts: list[Alert] = []
        for event in events:
            fields = event.fields
            channel = str(fields.get("channel", ""))
            if event.name == "channel_key_set_aside":
                key = (channel, int(fields["key_index"]))
                if key not in self._keys:
                    self._keys.add(key)
                    alerts.append(Alert("key_set_aside", f"Channel {channel}: key #{key[1]} was refused by "
                                                         f"the upstream ({fields.get('status')}) and is set "
                                                         f"aside until {fields.get('until')}.", dict(fields)))
            elif event.name == "channel_keys_exhausted" and channel not in self._channels:
                self._channels.add(channel)
                alerts.append(Alert("channel_set_aside", f"Channel {channel} has no usable key left; it is "
                                                         f"out of routing until {fields.get('until')}.",
                                    dict(fields)))
            elif event.name == "channel_key_restored":
                self._keys.discard((channel, int(fields["key_index"])))
                alerts += self._recovered(channel, "key set aside expired")
        return alerts

    def _recovered(self, channel: str, reason: str) -> list[Alert]:
        if channel not in self._channels:
            return []
        self._channels.discard(channel)
        return [Alert("channel_recovered", f"Channel {channel} is back in routing ({reason}).",
                      {"channel": channel, "reason": reason})]

    def reloaded(self, old: GatewayConfig, new: GatewayConfig,
                 usable: Callable[[Channel], bool]) -> tuple[list[Alert], list[Token]]:
        """After a reload: forget what no longer exists, re-arm tokens whose quota changed, and see which
        channels are usable again. Returns the alerts and the tokens whose balance should be re-checked."""
        before = {t.name: t for t in old.tokens}
        recheck = [t for t in new.tokens if t.name not in before or before[t.name].grant != t.grant
                   or rule_for(old, t.name) != rule_for(new, t.name)]
        names = {t.name for t in new.tokens}
        for token in recheck:
            self._exhausted.discard(token.name)
        self._exhausted &= names
        self._low = {name: fired for name, fired in self._low.items() if name in names}
        alerts: list[Alert] = []
        for name in sorted(self._channels):
            channel = new.channel(name)
            if channel is None:
                self._channels.discard(name)
            elif usable(channel):
                alerts += self._recovered(name, "reload")
        # a key replaced by the reload is a new key: its refusal would be news again
        self._keys = {(c, i) for c, i in self._keys if new.channel(c) is not None
                      and new.channel(c) == old.channel(c)}
        return alerts, recheck

    def reload_failed(self, trigger: str, problems: list[str]) -> list[Alert]:
        return [Alert("reload_failed", f"A configuration reload ({trigger}) failed; the running "
                                       f"configuration is kept. {len(problems)} problem(s).",
                      {"trigger": trigger, "problems": problems})]
