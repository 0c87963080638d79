"""The quota ledger: holds, settlements and log rows (SPEC §4, §8)."""

from gateway.ledger.base import (
    HoldState,
    Ledger,
    LedgerUnavailable,
    LogPage,
    LogQuery,
    LogRow,
    Outcome,
    QuotaExceeded,
    TokenBalance,
)

__all__ = [
    "HoldState",
    "Ledger",
    "LedgerUnavailable",
    "LogPage",
    "LogQuery",
    "LogRow",
    "Outcome",
    "QuotaExceeded",
    "TokenBalance",
]
