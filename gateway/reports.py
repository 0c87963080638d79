"""What the operator's read commands show, computed from configuration and ledger data (pure: no I/O).

Token balances (grant, used, held, remaining), log rows as plain records, and daily statistics
aggregated from log rows by day in the configured time zone, optionally split by model, token or channel.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config.models import GatewayConfig
from gateway.ledger.base import LogRow, Outcome, TokenBalance

SPLITS = ("model", "token", "channel")


def token_report(config: GatewayConfig | None, balances: Mapping[str, TokenBalance]) -> list[dict[str, Any]]:
    """One record per token of the configuration, then one per token only the ledger knows (a token
    removed from the file keeps its history: `in_config` is false and its grant unknown)."""
    records: list[dict[str, Any]] = []
    for token in config.tokens if config else []:
        balance = balances.get(token.name) or TokenBalance(token=token.name, used=0, held=0)
        grant = token.grant
        records.append({
            "name": token.name, "group": token.group, "enabled": token.enabled, "in_config": True,
            "unlimited": grant is None, "grant": grant, "used": balance.used, "held": balance.held,
            "remaining": None if grant is None else grant - balance.used - balance.held,
            "requests": balance.requests,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        })
    known = {record["name"] for record in records}
    for name in sorted(set(balances) - known):
        balance = balances[name]
        records.append({
            "name": name, "group": None, "enabled": False, "in_config": False, "unlimited": False,
            "grant": None, "used": balance.used, "held": balance.held, "remaining": None,
            "requests": balance.requests, "expires_at": None,
        })
    return records


def log_record(row_id: int, row: LogRow) -> dict[str, Any]:
    record = {"id": row_id, **dataclasses.asdict(row)}
    record["outcome"] = str(row.outcome)
    return record


@dataclass(slots=True)
class DayStat:
    """One day (and one model, token or channel when split) of calls."""

    day: str  # YYYY-MM-DD in the report's time zone
    key: str | None  # the model, token or channel name; None when not split
    requests: int = 0
    errors: int = 0  # outcome error or abandoned
    cancelled: int = 0  # the caller went away (499)
    quota: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latencies_ms: list[int] = field(default_factory=list)  # request_time of successful calls

    def as_dict(self, split: str | None) -> dict[str, Any]:
        record: dict[str, Any] = {"day": self.day}
        if split:
            record[split] = self.key
        record.update(requests=self.requests, errors=self.errors, cancelled=self.cancelled, quota=self.quota,
                      prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                      p50_ms=percentile(self.latencies_ms, 50), p95_ms=percentile(self.latencies_ms, 95))
        return record


def percentile(values: list[int], pct: float) -> int | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def day_of(timestamp: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(timestamp, zone).date().isoformat()


def start_of_days(days: int, zone: ZoneInfo, now: float) -> float:
    """Unix time of midnight, in `zone`, starting the last `days` days (today included)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    today = datetime.fromtimestamp(now, zone).date()
    first = today - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=zone).timestamp()


def aggregate(rows: Iterable[LogRow], zone: ZoneInfo, split: str | None = None) -> list[DayStat]:
    """Daily statistics from log rows, ordered by day then by quota (largest first)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split by one of {', '.join(SPLITS)}, not {split!r}")
    stats: dict[tuple[str, str | None], DayStat] = {}
    for row in rows:
        key = getattr(row, split) if split else None
        day = day_of(row.time, zone)
        stat = stats.get((day, key))
        if stat is None:
            stat = stats[(day, key)] = DayStat(day=day, key=key)
        stat.requests += 1
        stat.quota += row.quota
        stat.prompt_tokens += row.prompt_tokens
        stat.completion_tokens += row.completion_tokens
        if row.outcome in (Outcome.ERROR, Outcome.ABANDONED):
            stat.errors += 1
        elif row.outcome is Outcome.CANCELLED:
            stat.cancelled += 1
        else:
            stat.latencies_ms.append(row.request_time_ms)
    return sorted(stats.values(), key=lambda s: (s.day, -s.quota, s.key or ""))


_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, zone: ZoneInfo, now: float) -> float:
    """A moment given as unix seconds, an ISO date or date-time (naive ones are in `zone`), or an age
    such as `30m`, `2h`, `7d` (that long before `now`). Raises ValueError."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return now - float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{text!r} is not a time: use 2026-01-31, 2026-01-31T12:00, unix seconds, "
                             "or an age like 30m, 2h, 7d") from None
        moment = datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()
