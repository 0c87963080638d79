"""Webhook notifications (`notify:` in the YAML), delivered in the background: never delays or fails a call.

The pipeline and the reloader report facts through sync methods that only queue work. Two tasks do the
rest: one reads the balances of tokens that just spent quota (coalesced per token) to see whether one
crossed a threshold, the other POSTs each alert to every webhook that wants it, one delivery at a time,
with retries and a timeout per attempt. The delivery queue is bounded: when it is full the oldest
delivery is dropped and counted. Each attempt is logged with the event, the webhook's host and the
status; never the secret, the path or the query (webhook URLs often carry a token).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from gateway.alerts import SIGNATURE_HEADER, Alert, Watch, payload, rule_for, signature
from gateway.channel_state import StateEvent
from gateway.config.models import GatewayConfig, Token, Webhook

if TYPE_CHECKING:
    from gateway.runtime import Runtime

_PERMANENT = range(400, 500)  # the webhook refuses this request as such: retrying cannot help
_RETRIED = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class _Delivery:
    webhook: Webhook
    event: str
    body: bytes


def host_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


class Notifier:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.watch = Watch()
        self.dropped = 0
        self._queue: deque[_Delivery] = deque()
        self._wakeup = asyncio.Event()
        self._checks: set[str] = set()  # tokens whose balance to look at
        self._check_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- facts, reported synchronously (cheap, never raise) -----------------------------------------

    def quota_used(self, token: Token) -> None:
        """`token` was just charged: its balance gets a look in the background."""
        config = self.rt.config
        if config.notify.webhooks and token.grant is not None and rule_for(config, token.name) is not None:
            self._checks.add(token.name)
            self._check_wakeup.set()

    def quota_refused(self, token: Token) -> None:
        if self.rt.config.notify.webhooks:
            self._emit(self.watch.refused(token))

    def channel_events(self, events: Iterable[StateEvent]) -> None:
        if self.rt.config.notify.webhooks:
            self._emit(self.watch.channel_events(events))

    def reload_failed(self, trigger: str, problems: list[str]) -> None:
        if self.rt.config.notify.webhooks:
            self._emit(self.watch.reload_failed(trigger, [self.rt.redactor.scrub(p) for p in problems]))

    def reloaded(self, old: GatewayConfig, new: GatewayConfig) -> None:
        now = self.rt.clock()
        alerts, recheck = self.watch.reloaded(old, new, lambda c: self.rt.channels.has_usable_key(c, now))
        if new.notify.webhooks:
            self._emit(alerts)
            for token in recheck:
                self.quota_used(token)

    def _emit(self, alerts: list[Alert]) -> None:
        config = self.rt.config.notify
        for alert in alerts:
            body = payload(alert, self.rt.clock())
            for webhook in config.webhooks:
                if webhook.events is not None and alert.event not in webhook.events:
                    continue
                while len(self._queue) >= config.queue_size:
                    dropped = self._queue.popleft()
                    self.dropped += 1
                    self.rt.metrics.notifications_dropped.inc()
                    self.rt.log.warning("notification_dropped", notification=dropped.event,
                                        host=host_of(dropped.webhook.url.get_secret_value()))
                self._queue.append(_Delivery(webhook, alert.event, body))
                self._wakeup.set()

    # --- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(trust_env=False, headers={"User-Agent": "gateway-notify"})
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send_loop()), loop.create_task(self._check_loop())]

    async def stop(self) -> None:
        """Stop at once: a delivery in progress is abandoned (shutdown must not wait for a webhook)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the background tasks -------------------------------------------------------------------------

    async def _check_loop(self) -> None:
        while True:
            await self._check_wakeup.wait()
            self._check_wakeup.clear()
            names, self._checks = self._checks, set()
            for name in sorted(names):
                config = self.rt.config
                token = next((t for t in config.tokens if t.name == name), None)
                if token is None:
                    continue
                try:
                    balance = await self.rt.ledger.balance(name)
                except Exception as exc:  # a ledger hiccup costs one check, never the task
                    self.rt.log.warning("notify_balance_unreadable", token=name, error=type(exc).__name__)
                    continue
                self._emit(self.watch.balance(token, rule_for(config, name), balance.used))

    async def _send_loop(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            delivery = self._queue.popleft()
            try:
                delivered = await self._deliver(delivery)
            except Exception as exc:  # a bug here must not end notifications for the process
                self.rt.log.error("notification_error", notification=delivery.event,
                                  error=type(exc).__name__)
                delivered = False
            self.rt.metrics.notifications.labels(delivery.event, "delivered" if delivered else "failed").inc()

    async def _deliver(self, delivery: _Delivery) -> bool:
        assert self._session is not None
        settings = self.rt.config.notify
        url = delivery.webhook.url.get_secret_value()
        host = host_of(url)
        headers = {"Content-Type": "application/json", "X-Gateway-Event": delivery.event}
        if delivery.webhook.secret is not None:
            headers[SIGNATURE_HEADER] = signature(delivery.webhook.secret.get_secret_value(), delivery.body)
        timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        for attempt in range(1, settings.attempts + 1):
            status: int | None = None
            error = ""
            try:
                async with self._session.post(url, data=delivery.body, headers=headers, timeout=timeout,
                                              allow_redirects=False) as resp:
                    status = resp.status
            except TimeoutError:
                error = "timeout"
            except aiohttp.ClientError as exc:  # its text may quote the URL: only the type is logged
                error = type(exc).__name__
            if status is not None and 200 <= status < 300:
                self.rt.log.info("notification_delivered", notification=delivery.event, host=host,
                                 status=status, attempt=attempt)
                return True
            self.rt.log.warning("notification_failed", notification=delivery.event, host=host,
                                status=status, error=error, attempt=attempt, attempts=settings.attempts)
            if status in _PERMANENT and status not in _RETRIED:
                return False
            if attempt < settings.attempts:
                await asyncio.sleep(settings.retry_delay_seconds * 2 ** (attempt - 1))
        return False
