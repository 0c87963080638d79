"""The quota ledger: holds, settlements and log rows (SPEC §4, §8)."""

from gateway.ledger.base import (
    DailyStat,
    HoldState,
    Ledger,
    LedgerUnavailable,
    LogPage,
    LogQuery,
    LogRow,
    Outcome,
    QuotaExceeded,
    StatsQuery,
    TokenBalance,
)

__all__ = [
    "DailyStat",
    "HoldState",
    "Ledger",
    "LedgerUnavailable",
    "LogPage",
    "LogQuery",
    "LogRow",
    "Outcome",
    "QuotaExceeded",
    "StatsQuery",
    "TokenBalance",
]
