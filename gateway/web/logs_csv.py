"""`GET /api/logs?format=csv`: every matching log row as CSV with a header row, streamed a page at a time."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

from aiohttp import web

from gateway.ledger.base import Ledger, LogQuery, LogRow
from gateway.ledger.schema import LOG_COLUMNS

HEADER = ("id", *LOG_COLUMNS)
PAGE = 1000
# A cell a spreadsheet would run as a formula (CSV injection): model names and error texts come from
# callers and upstreams. Such text cells get a leading apostrophe, which spreadsheets show as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cells(row_id: int, row: LogRow, columns: tuple[str, ...] = LOG_COLUMNS) -> list[Any]:
    cells: list[Any] = [row_id]
    for column in columns:
        value = getattr(row, column)
        if isinstance(value, bool):
            value = int(value)
        elif value is None:
            value = ""
        elif isinstance(value, str):
            value = str(value)  # an Outcome is a StrEnum: its value, not its repr
            if value.startswith(_FORMULA_STARTS):
                value = "'" + value
        cells.append(value)
    return cells


async def export(request: web.Request, ledger: Ledger, query: LogQuery, max_rows: int | None,
                 columns: tuple[str, ...] = LOG_COLUMNS) -> web.StreamResponse:
    """Stream the rows of `query` (newest first, from its cursor on), at most `max_rows` of them, with
    `columns` after the id (a token holder's export leaves out client_ip)."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="gateway-logs.csv"',
        "Cache-Control": "no-store",
    })
    first = await ledger.logs(replace(query, limit=_page_size(max_rows, 0)))  # errors still answer JSON
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("id", *columns))
    page, written = first, 0
    while True:
        for row_id, row in page.rows:
            writer.writerow(csv_cells(row_id, row, columns))
        written += len(page.rows)
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
        if page.next_cursor is None or (max_rows is not None and written >= max_rows):
            break
        size = _page_size(max_rows, written)
        page = await ledger.logs(replace(query, before_id=page.next_cursor, limit=size))
    await response.write_eof()
    return response


def _page_size(max_rows: int | None, written: int) -> int:
    return PAGE if max_rows is None else max(1, min(PAGE, max_rows - written))
