"""Plain-text tables for the terminal: columns sized to their content, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Sequence

Cell = str | int | float | None


def cell_text(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return value


def render(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """`headers` over `rows`, two spaces between columns; a column is right-aligned when every
    value in it is a number (or missing)."""
    texts = [[cell_text(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in texts:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], len(text))
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        cells = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in texts)])


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"
