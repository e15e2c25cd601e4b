"""How the command line prints: tables that fit 100 columns (a wider terminal's width),
JSON, numbers, progress."""

from __future__ import annotations

import math
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from daemon.documents import dumps
from daemon.text import visible

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = [
    "TABLE_WIDTH",
    "metric",
    "print_json",
    "print_reasons",
    "print_table",
    "progress",
    "table_width",
    "visible",
]

TABLE_WIDTH = 100
_PERCENT = frozenset({"consistency", "max_drawdown"})  # fractions, shown as the report does


def metric(name: str, value: float | None) -> str:
    """A metric as recommendations.md shows it: fractions as percents, others to 3 digits
    (a value of another type, from a row written by hand, as it is)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return visible(str(value))
    if math.isinf(value):
        return "inf"
    return f"{value:.1%}" if name in _PERCENT else f"{value:.3g}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return visible(",".join(str(v) for v in value)) or "-"
    return visible(str(value))


def _fit(widths: list[int], elastic: Sequence[int], limit: int) -> list[int]:
    """Narrow the elastic columns, widest first, until the row fits ``limit`` characters."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > limit:
        column = max(elastic, key=lambda i: widths[i], default=None)
        if column is None or widths[column] <= 8:
            break
        widths[column] -= 1
    return widths


# What _clip keeps or cuts whole: one character, or an escape visible() wrote.
_UNIT = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[ntr])|.", re.DOTALL)


def _clip(text: str, width: int, *, at_end: bool = False) -> str:
    """Cut the middle, keeping both ends: run ids and sources differ at their ends (or,
    ``at_end``, the end: a reason is read from its start). An escape is kept or cut whole
    (half of ``\\u202e`` would pass for other text)."""
    if len(text) <= width:
        return text
    units = _UNIT.findall(text)
    head = _leading(units, width - 1 if at_end else (width - 1) // 2)
    tail = _leading(units[::-1], width - 1 - sum(map(len, head)))
    return "".join(head) + "…" + "".join(reversed(tail))


def _leading(units: list[str], room: int) -> list[str]:
    """The first units that fit in ``room`` characters together."""
    taken = []
    for unit in units:
        room -= len(unit)
        if room < 0:
            break
        taken.append(unit)
    return taken


def table_width() -> int:
    """TABLE_WIDTH, or a wider terminal's width (flags and reasons were cut on a wide
    screen); piped, always TABLE_WIDTH: a script sees one shape."""
    if not sys.stdout.isatty():
        return TABLE_WIDTH
    return max(TABLE_WIDTH, shutil.get_terminal_size((TABLE_WIDTH, 24)).columns)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    elastic: Sequence[str] = (),
    limit: int | None = None,
    cut_at_end: Sequence[str] = (),
) -> None:
    """Aligned columns; the ``elastic`` ones are cut (with …) so a line fits ``limit``
    (default: ``table_width()``): in the middle, or at the end for those of ``cut_at_end``."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    limit = table_width() if limit is None else limit
    widths = _fit(widths, [headers.index(name) for name in elastic], limit)
    at_end = [name in cut_at_end for name in headers]
    for line in [list(headers), *cells]:
        clipped = [
            _clip(text, width, at_end=end)
            for text, width, end in zip(line, widths, at_end, strict=True)
        ]
        print("  ".join(t.ljust(w) for t, w in zip(clipped, widths, strict=True)).rstrip())


_REASON_INDENT = "    "  # a model's reasons past its first line


def _glued(text: str, room: int) -> str:
    """A reason's spaces unbreakable, when it fits in ``room`` columns with its ";"."""
    return text.replace(" ", "\xa0") if len(text) + 1 < room else text


def print_reasons(rows: Sequence[tuple[str, Sequence[str]]], limit: int | None = None) -> None:
    """Under a table: what keeps each model from APPROVED, wrapped to ``limit`` columns
    (default: ``table_width()``)."""
    if not any(why for _, why in rows):
        return
    limit = table_width() if limit is None else limit
    print("\nwhy not APPROVED:")
    for label, why in rows:
        if not why:
            continue
        first = f"  {visible(label)}: "
        # A line breaks between reasons only: the spaces inside one are made unbreakable,
        # unless it is too long for the narrower of the first and later lines (then it
        # breaks between its words); never inside a word (one longer than a line stands
        # alone, past the limit).
        room = limit - max(len(first), len(_REASON_INDENT))
        lines = textwrap.fill(
            "; ".join(_glued(visible(r), room) for r in why), limit, initial_indent=first,
            subsequent_indent=_REASON_INDENT, break_long_words=False, break_on_hyphens=False,
        )  # fmt: skip
        print(lines.replace("\xa0", " "))


def print_json(document: Any) -> None:
    """One JSON document as the dashboard's API serves it (a list one item per line)."""
    print(dumps(document))


def progress(total: int, label: str) -> tqdm[Any]:
    """A progress bar on stderr when it is a terminal, silent when piped."""
    from tqdm import tqdm  # noqa: PLC0415 - only long commands pay for the import

    return tqdm(total=total, desc=label, unit="run", disable=None, file=sys.stderr, leave=False)
