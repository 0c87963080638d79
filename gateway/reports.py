"""What the operator's read commands show, computed from configuration and ledger data (pure: no I/O).

Token balances (grant, used, held, remaining), log rows as plain records, and the moments and days that
`--since`, `--until` and `--days` name. Daily statistics are gateway/daily_report.py's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config.models import GatewayConfig
from gateway.ledger.base import LogRow, TokenBalance


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


def start_of_days(days: int, zone: ZoneInfo, now: float) -> float:
    """Unix time of midnight, in `zone`, starting the last `days` days (today included)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    today = datetime.fromtimestamp(now, zone).date()
    first = today - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=zone).timestamp()


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
