"""Checks that span several configuration entries: unique names, unique keys, groups that exist.

They read plain data (parsed YAML or a model dump) defensively, so the loader can still run them on a
file whose entries fail validation and report every problem in one pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

_DEFAULT_GROUP = "default"


def cross_check(data: Mapping[str, Any]) -> list[Problem]:
    """Every cross-entry problem in `data`, each with the path of the entry at fault."""
    channels = _entries(data.get("channels"))
    tokens = _entries(data.get("tokens"))
    problems = _duplicate_names("channels", channels, "channel")
    problems += _duplicate_names("tokens", tokens, "token")
    problems += _duplicate_keys(tokens)
    groups = data.get("groups", {_DEFAULT_GROUP: {}})
    if isinstance(groups, Mapping):
        problems += _unknown_groups(channels, tokens, {*groups, _DEFAULT_GROUP})
    problems += _unknown_notify_tokens(data.get("notify"), tokens)
    return problems


def _unknown_notify_tokens(notify: Any, tokens: list[tuple[int, Mapping[str, Any]]]) -> list[Problem]:
    """`notify.tokens` names tokens; a misspelt one would silently never notify."""
    rules = notify.get("tokens") if isinstance(notify, Mapping) else None
    if not isinstance(rules, Mapping):
        return []
    known = {token.get("name") for _, token in tokens}
    return [(("notify", "tokens", name), f"unknown token {name!r}") for name in rules if name not in known]


def _entries(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(index, entry) for index, entry in enumerate(value) if isinstance(entry, Mapping)]


def _duplicate_names(section: str, entries: list[tuple[int, Mapping[str, Any]]], what: str) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for index, entry in entries:
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        if name in first:
            problems.append(
                (
                    (section, index, "name"),
                    f"duplicate {what} name {name!r} (first at {section}[{first[name]}])",
                )
            )
        else:
            first[name] = index
    return problems


def _key_hash(field: str, value: Any) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return None
    if field == "key":
        return hashlib.sha256(value.encode()).hexdigest()
    return value.strip().lower()


def _duplicate_keys(tokens: list[tuple[int, Mapping[str, Any]]]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for index, token in tokens:
        for field in ("key", "key_sha256"):
            digest = _key_hash(field, token.get(field))
            if digest is None:
                continue
            if digest in first:
                problems.append((("tokens", index, field), f"same key as tokens[{first[digest]}]"))
            else:
                first[digest] = index
    return problems


def _unknown_groups(
    channels: list[tuple[int, Mapping[str, Any]]],
    tokens: list[tuple[int, Mapping[str, Any]]],
    known: set[str],
) -> list[Problem]:
    listing = ", ".join(sorted(known))
    problems: list[Problem] = []
    for index, token in tokens:
        group = token.get("group", _DEFAULT_GROUP)
        if isinstance(group, str) and group not in known:
            problems.append((("tokens", index, "group"), f"unknown group {group!r} (groups: {listing})"))
    for index, channel in channels:
        names = channel.get("groups", [_DEFAULT_GROUP])
        if not isinstance(names, list):
            continue
        for position, group in enumerate(names):
            if isinstance(group, str) and group not in known:
                problems.append(
                    (("channels", index, "groups", position), f"unknown group {group!r} (groups: {listing})")
                )
    return problems
