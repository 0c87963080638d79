"""The read commands `gateway tokens`, `gateway logs` and `gateway stats` (and `stats --rebuild`).

They open the ledger file itself read-only (SQLite `mode=ro` over WAL), so they need no running gateway,
never write, and never block one that is running: each query is its own short read. The one exception,
`gateway stats --rebuild`, recomputes the daily statistics from the log rows in one short write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway import daily_report, reports, tables
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.ledger.base import STAT_SPLITS, DailyStat, LedgerUnavailable, LogQuery, LogRow, StatsQuery
from gateway.ledger.sqlite import SqliteLedger, rebuild_stats_file

PAGE = 1000
DEFAULT_CONFIG = "config.yaml"
CONFIG_HELP = f"YAML file (default $GATEWAY_CONFIG or {DEFAULT_CONFIG})"


def config_path(given: str | None) -> str:
    return given or os.environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG


class CommandError(Exception):
    """A message for the operator; the command exits 1."""


@asynccontextmanager
async def reading(path: str) -> AsyncIterator[SqliteLedger]:
    """The ledger at `path`, opened read-only."""
    if not os.path.exists(path):  # noqa: ASYNC240 (one stat before any I/O starts)
        raise CommandError(f"no ledger at {path} (the gateway creates it when it first starts)")
    ledger = SqliteLedger(path, readonly=True)
    try:
        await ledger.open()
    except LedgerUnavailable as exc:
        raise CommandError(str(exc)) from None
    try:
        yield ledger
    finally:
        await ledger.close()


async def read_daily_stats(ledger: SqliteLedger, *, days: int, zone: ZoneInfo, split: str | None
                           ) -> tuple[str, str, list[DailyStat], str]:
    """(first day, last day, statistics, source) of the last `days` days in `zone`: read from the
    ledger's daily statistics when they are kept in `zone`, else summed from the log rows."""
    first, last = daily_report.day_range(None, None, zone, time.time(), default_days=days)
    if zone.key == ledger.stats_timezone:
        stats = await ledger.daily_stats(StatsQuery(since=first, until=last, by=split))
        return first, last, stats, "daily_stats"
    since = daily_report.midnight(date.fromisoformat(first), zone)
    rows = [row async for _, row in _all_rows(ledger, LogQuery(since=since))]
    return first, last, daily_report.from_rows(rows, zone, split), "log_rows"


async def _all_rows(ledger: SqliteLedger, query: LogQuery) -> AsyncIterator[tuple[int, LogRow]]:
    """Every row matching `query`, newest first, a page at a time."""
    cursor: int | None = None
    while True:
        page = await ledger.logs(replace(query, before_id=cursor, limit=PAGE))
        for item in page.rows:
            yield item
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# --- shared option handling ------------------------------------------------------------------------

def _sources(args: argparse.Namespace) -> tuple[str, GatewayConfig | None]:
    """The ledger path (`--db`, else the config's database.path) and the config when one is readable."""
    path = config_path(args.config)
    config: GatewayConfig | None = None
    try:
        config = load_config(path)
    except ConfigError as err:
        if args.db is None:
            listing = "\n".join(f"  {problem}" for problem in err.problems)
            raise CommandError(f"{path}: cannot read the configuration (give --db FILE to read a ledger "
                               f"without it):\n{listing}") from None
    return (args.db or (config.database.path if config else "")), config


def _zone(args: argparse.Namespace, config: GatewayConfig | None) -> ZoneInfo:
    name = args.tz or (config.server.timezone if config else "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"unknown time zone {name!r}") from None


def _run(command: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    try:
        asyncio.run(command(args))
    except CommandError as err:
        print(f"gateway {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


# --- tokens ------------------------------------------------------------------------------------------

async def _tokens(args: argparse.Namespace) -> None:
    path, config = _sources(args)
    async with reading(path) as ledger:
        balances = await ledger.balances()
    records = reports.token_report(config, balances)
    if args.json:
        _print_json({"ledger": path, "data": records})
        return
    if not records:
        print("no tokens")
        return
    rows = [[r["name"], r["group"] if r["in_config"] else "(not in config)",
             "unlimited" if r["unlimited"] else r["grant"], r["used"], r["held"],
             "-" if r["unlimited"] else r["remaining"], r["requests"]] for r in records]
    print(tables.render(["TOKEN", "GROUP", "GRANT", "USED", "HELD", "REMAINING", "REQUESTS"], rows))
    if config is not None:
        rate = config.billing.quota_per_usd
        print(f"\nquota units; {rate:,} = 1 USD")


# --- logs --------------------------------------------------------------------------------------------

_LOG_FORMAT = [("ID", 7, ">"), ("TIME", 19, "<"), ("TOKEN", 12, "<"), ("MODEL", 24, "<"),
               ("CHANNEL", 14, "<"), ("STATUS", 6, ">"), ("OUTCOME", 9, "<"), ("PROMPT", 7, ">"),
               ("OUTPUT", 7, ">"), ("QUOTA", 9, ">"), ("MS", 6, ">"), ("ERROR", 0, "<")]


def _log_line(values: list[str]) -> str:
    cells = []
    for (_, width, align), value in zip(_LOG_FORMAT, values, strict=True):
        if width:
            value = tables.shorten(value, width)
            value = value.rjust(width) if align == ">" else value.ljust(width)
        else:
            value = tables.shorten(value, 80)
        cells.append(value)
    return "  ".join(cells).rstrip()


def _log_values(row_id: int, row: LogRow, zone: ZoneInfo) -> list[str]:
    moment = datetime.fromtimestamp(row.time, zone).strftime("%Y-%m-%d %H:%M:%S")
    return [str(row_id), moment, row.token, row.model, row.channel or "-", str(row.status or "-"),
            str(row.outcome), str(row.prompt_tokens), str(row.completion_tokens), f"{row.quota:,}",
            str(row.request_time_ms), row.error]


def _log_query(args: argparse.Namespace, zone: ZoneInfo) -> LogQuery:
    now = time.time()
    try:
        since = reports.parse_when(args.since, zone, now) if args.since else None
        until = reports.parse_when(args.until, zone, now) if args.until else None
    except ValueError as err:
        raise CommandError(str(err)) from None
    return LogQuery(token=args.token, model=args.model, channel=args.channel, outcome=args.outcome,
                    status=args.status, since=since, until=until)


async def _logs(args: argparse.Namespace) -> None:
    path, config = _sources(args)
    zone = _zone(args, config)
    query = _log_query(args, zone)
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    async with reading(path) as ledger:
        page = await ledger.logs(replace(query, limit=args.limit))
        newest = list(reversed(page.rows))  # oldest first, like a log file
        if not args.json:
            print(_log_line([name for name, _, _ in _LOG_FORMAT]))
        _print_rows(newest, zone, args.json)
        if not args.follow:
            return
        last = page.rows[0][0] if page.rows else await _last_id(ledger)  # newest first
        while True:
            await asyncio.sleep(args.interval)
            fresh: list[tuple[int, LogRow]] = []
            async for row_id, row in _all_rows(ledger, query):
                if row_id <= last:
                    break
                fresh.append((row_id, row))
            if fresh:
                fresh.reverse()
                last = fresh[-1][0]
                _print_rows(fresh, zone, args.json)


async def _last_id(ledger: SqliteLedger) -> int:
    page = await ledger.logs(LogQuery(limit=1))
    return page.rows[0][0] if page.rows else 0


def _print_rows(rows: list[tuple[int, LogRow]], zone: ZoneInfo, as_json: bool) -> None:
    for row_id, row in rows:
        if as_json:
            print(json.dumps(reports.log_record(row_id, row), ensure_ascii=False))
        else:
            print(_log_line(_log_values(row_id, row, zone)))
    sys.stdout.flush()


# --- stats -------------------------------------------------------------------------------------------

async def _stats(args: argparse.Namespace) -> None:
    path, config = _sources(args)
    if args.rebuild:
        await _rebuild(args, path)
        return
    if args.days < 1:
        raise CommandError("--days must be at least 1")
    async with reading(path) as ledger:
        zone = _zone(args, config) if args.tz else ZoneInfo(ledger.stats_timezone or _zone(args, config).key)
        first, last, stats, source = await read_daily_stats(ledger, days=args.days, zone=zone, split=args.by)
    rate = config.billing.quota_per_usd if config else None
    records = [daily_report.stat_record(stat, args.by, rate) for stat in stats]
    total = daily_report.stat_record(daily_report.total(stats), None, rate, day=False)
    if args.json:
        _print_json({"timezone": zone.key, "days": args.days, "by": args.by, "since": first, "until": last,
                     "source": source, "quota_per_usd": rate, "data": records, "total": total})
        return
    if not records:
        print(f"no calls in the last {args.days} day(s) ({zone.key})")
        return
    headers = ["DAY", *([args.by.upper()] if args.by else []), "REQUESTS", "ERRORS", "CANCELLED", "QUOTA",
               *(["USD"] if rate else []), "PROMPT", "OUTPUT", "P50 MS", "P95 MS"]

    def line(r: dict[str, Any], label: str | None = None) -> list[tables.Cell]:
        cells: list[tables.Cell] = [label or r["day"]]
        if args.by:
            cells.append("" if label else r[args.by])
        cells += [r["requests"], r["errors"], r["cancelled"], r["quota"]]
        if rate:
            cells.append(f"{r['usd']:.4f}")
        cells += [r["prompt_tokens"], r["completion_tokens"], r["p50_ms"], r["p95_ms"]]
        return cells

    print(tables.render(headers, [*(line(r) for r in records), line(total, "total")]))
    origin = "" if source == "daily_stats" else ", summed from the log rows"
    print(f"\ndays in {zone.key}{origin}; p50/p95: request time of successful calls (histogram buckets)")


async def _rebuild(args: argparse.Namespace, path: str) -> None:
    if not os.path.exists(path):  # noqa: ASYNC240 (one stat before any I/O starts)
        raise CommandError(f"no ledger at {path} (the gateway creates it when it first starts)")
    try:
        zone, counted = await rebuild_stats_file(path)
    except LedgerUnavailable as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        _print_json({"ledger": path, "rebuilt": True, "log_rows": counted, "timezone": zone})
    else:
        print(f"rebuilt the daily statistics of {path} from {counted:,} log rows (days in {zone})")


# --- wiring ------------------------------------------------------------------------------------------

def add_commands(sub: Any) -> None:
    """Register tokens, logs and stats on the `gateway` command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help=CONFIG_HELP)
    common.add_argument("--db", help="ledger file (default: database.path of the config)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    tokens = sub.add_parser("tokens", parents=[common],
                            help="grant, used, held and remaining quota per token")
    tokens.set_defaults(func=lambda a: _run(_tokens, a))

    logs = sub.add_parser("logs", parents=[common], help="log rows, oldest first (--follow for new ones)")
    for name in ("token", "model", "channel"):
        logs.add_argument(f"--{name}", help=f"only this {name}")
    logs.add_argument("--outcome", choices=["ok", "error", "cancelled", "abandoned"])
    logs.add_argument("--status", type=int, help="only this HTTP status")
    logs.add_argument("--since",
                      help="from: 2026-01-31, 2026-01-31T12:00, unix seconds, or an age (30m, 2h, 7d)")
    logs.add_argument("--until", help="before (same forms as --since)")
    logs.add_argument("-n", "--limit", type=int, default=50, help="how many of the newest rows (default 50)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new rows until Ctrl-C")
    logs.add_argument("--interval", type=float, default=1.0, help="seconds between looks with --follow")
    logs.add_argument("--tz", help="time zone for times (default server.timezone)")
    logs.set_defaults(func=lambda a: _run(_logs, a))

    stats = sub.add_parser("stats", parents=[common], help="calls, errors, quota and tokens per day")
    stats.add_argument("--days", type=int, default=7, help="how many days, today included (default 7)")
    stats.add_argument("--by", choices=STAT_SPLITS, help="also split each day by this")
    stats.add_argument("--tz", help="time zone of days (default: the one the ledger keeps its statistics "
                                    "in; another zone sums the log rows, which is slower)")
    stats.add_argument("--rebuild", action="store_true",
                       help="recompute the daily statistics from the log rows (safe while the gateway runs)")
    stats.set_defaults(func=lambda a: _run(_stats, a))
