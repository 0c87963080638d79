"""Applying an edited configuration file to a running gateway: validate, swap atomically, say what changed.

Each call reads `Runtime.config` once and keeps that snapshot, so swapping the attribute is the whole
switch: calls in flight finish on the configuration they started with, new calls see the new one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gateway.app import secrets_of
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.runtime import Runtime

# Settings fixed when the process starts: the listening socket, the ledger file and its connections,
# aiohttp's body limit.
RESTART_ONLY = ("server.host", "server.port", "database.path", "server.max_body_bytes", "server.timezone",
                "database.synchronous", "database.busy_timeout_ms")
# Never show these values, only that they changed.
_SECRET_SETTINGS = frozenset({"server.admin_key", "notify.webhooks"})  # webhook URLs carry tokens
_SETTINGS_SECTIONS = ("server", "database", "billing", "routing", "metrics", "notify")

FileSignature = tuple[int, int, int, int]


def file_signature(path: str | os.PathLike[str]) -> FileSignature | None:
    """What identifies one version of a file (device, inode, mtime, size); None if it cannot be read.
    An editor that writes a temporary file and renames it over the old one changes the inode."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


@dataclass(frozen=True, slots=True)
class Changes:
    """Differences between two configurations, by name; secret values are never included."""

    added: dict[str, list[str]] = field(default_factory=dict)  # section -> names
    removed: dict[str, list[str]] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)
    settings: list[str] = field(default_factory=list)  # "routing.retries: 2 -> 3"
    restart_required: list[str] = field(default_factory=list)  # "server.port: 8080 -> 9090"

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.settings or self.restart_required)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed,
                "settings": self.settings, "restart_required": self.restart_required}


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    trigger: str  # sighup | api | file
    path: str
    changes: Changes = field(default_factory=Changes)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "trigger": self.trigger, "path": self.path}
        if self.ok:
            body["changes"] = self.changes.as_dict()
            if self.changes.restart_required:
                body["note"] = "some settings take effect only after a restart: " + ", ".join(
                    item.split(":")[0] for item in self.changes.restart_required)
        else:
            body["problems"] = self.problems
        return body


def config_changes(old: GatewayConfig, new: GatewayConfig) -> Changes:
    """What a reload from `old` to `new` changes: named entries added/removed/changed, and settings."""
    changes = Changes()
    named: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {
        "channels": ({c.name: c for c in old.channels}, {c.name: c for c in new.channels}),
        "tokens": ({t.name: t for t in old.tokens}, {t.name: t for t in new.tokens}),
        "pricing": (old.pricing, new.pricing),
        "groups": (old.groups, new.groups),
    }
    for section, (before, after) in named.items():
        _record(changes.added, section, [n for n in after if n not in before])
        _record(changes.removed, section, [n for n in before if n not in after])
        _record(changes.changed, section, [n for n in after if n in before and after[n] != before[n]])
    for section in _SETTINGS_SECTIONS:
        before_section: BaseModel = getattr(old, section)
        after_section: BaseModel = getattr(new, section)
        for name in type(after_section).model_fields:
            was, now = getattr(before_section, name), getattr(after_section, name)
            if was == now:
                continue
            key = f"{section}.{name}"
            line = f"{key}: changed" if key in _SECRET_SETTINGS else f"{key}: {was} -> {now}"
            (changes.restart_required if key in RESTART_ONLY else changes.settings).append(line)
    return changes


def _record(target: dict[str, list[str]], section: str, names: list[str]) -> None:
    if names:
        target[section] = names


def keep_running_settings(running: GatewayConfig, new: GatewayConfig) -> GatewayConfig:
    """`new`, but with the settings only a restart can change kept as they are running, so that
    `Runtime.config` always describes what is in effect."""
    server = new.server.model_copy(update={"host": running.server.host, "port": running.server.port,
                                           "max_body_bytes": running.server.max_body_bytes})
    return new.model_copy(update={"server": server, "database": running.database})


def secrets_to_mask(old: GatewayConfig, new: GatewayConfig) -> list[str]:
    """The new file's secrets, plus the old one's: calls still in flight may log them."""
    return [*secrets_of(new), *secrets_of(old)]


def proxies(config: GatewayConfig) -> Iterable[str | None]:
    return {channel.proxy for channel in config.channels}


class Reloader:
    """Reloads `path` into `rt` on request; one reload at a time, each from a fresh read of the file."""

    def __init__(self, rt: Runtime, path: str | os.PathLike[str]) -> None:
        self.rt = rt
        self.path = str(path)
        # The version of the file the running configuration came from; the watcher compares against it.
        self.signature = file_signature(self.path)
        self._lock = asyncio.Lock()

    async def reload(self, trigger: str) -> ReloadResult:
        async with self._lock:
            signature = file_signature(self.path)
            try:
                new = await asyncio.to_thread(load_config, self.path)
            except ConfigError as err:
                # Remember this version anyway: the watcher waits for the next save, not retrying it.
                self.signature = signature
                self.rt.log.error("config_reload_failed", trigger=trigger, path=self.path,
                                  problems=err.problems, kept="the running configuration")
                self.rt.metrics.reloaded(ok=False)
                self.rt.notifier.reload_failed(trigger, err.problems)
                return ReloadResult(ok=False, trigger=trigger, path=self.path, problems=err.problems)
            self.signature = signature
            old = self.rt.config
            changes = config_changes(old, new)
            await self.apply(keep_running_settings(old, new), old)
            self.rt.metrics.reloaded(ok=True)
            if changes.empty:
                self.rt.log.info("config_unchanged", trigger=trigger, path=self.path)
            else:
                self.rt.log.info("config_reloaded", trigger=trigger, path=self.path, **changes.as_dict())
            if changes.restart_required:
                self.rt.log.warning("config_needs_restart", settings=changes.restart_required,
                                    note="these settings keep their running values until a restart")
            return ReloadResult(ok=True, trigger=trigger, path=self.path, changes=changes)

    async def apply(self, new: GatewayConfig, old: GatewayConfig) -> None:
        """Swap the snapshot, then bring the process-wide state in line with it."""
        self.rt.redactor.set_secrets(secrets_to_mask(old, new))
        self.rt.config = new  # the atomic switch: one attribute, read once per call
        self.rt.channels.retain(channel.name for channel in new.channels)
        self.rt.channels.apply_limits(new.routing)
        self.rt.limits.retain(token.name for token in new.tokens)  # limits are re-read from each call's token
        self.rt.notifier.reloaded(old, new)
        await self.rt.upstream.retain(proxies(new))
