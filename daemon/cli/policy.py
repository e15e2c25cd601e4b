"""The policy commands of `gatewatch`: regate (what if the thresholds were different?)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.cli.output import print_json, visible
from daemon.config import Config, load_config
from daemon.exits import EXIT_OK
from gating.regate import RegateChange, RegateReport

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["change_rows", "render_report"]

WIDTH = 100  # the human output fits this many columns
_HEADERS = ("TIMESTAMP", "SYMBOL", "FROM", "TO", "VERDICT", "WHY")


def change_rows(changes: Sequence[RegateChange], width: int = WIDTH) -> list[str]:
    """The changes as an aligned table, each line cut to ``width`` columns (WHY last, cut first)."""
    rows = [
        (c.timestamp, c.symbol, c.before, c.after, c.verdict or "-", c.why or "-") for c in changes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS[:-1])]
    lines = []
    for row in [_HEADERS, *rows]:
        head = "  ".join(text.ljust(w) for text, w in zip(row[:-1], widths, strict=True)) + "  "
        why = row[-1]
        room = max(width - len(head), 1)
        if len(why) > room:
            why = why[: room - 1] + "…"
        lines.append((head + why).rstrip()[: max(width, len(head) + 1)])
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def render_report(report: RegateReport, other: str) -> list[str]:
    """The human output of regate: what was re-gated, counts now and under OTHER, the changes."""
    since = f" since {report.since}" if report.since else ""
    runs, models = _count(report.runs, "run"), _count(report.models, "model")
    lines = [f"re-gated {runs} ({models}){since} under {other}"]
    if report.skipped:
        lines.append(
            f"skipped {len(report.skipped):,} unreadable runs (first: {report.skipped[0][0]})"
        )
    lines += ["", f"{'CLASS':<10}{'NOW':>10}{'OTHER':>10}{'CHANGE':>10}"]
    for name, now in report.now.items():
        after = report.other[name]
        lines.append(f"{name:<10}{now:>10,}{after:>10,}{after - now:>+10,}")
    if not report.changes:
        return [*lines, "", "no model would change class"]
    lines += ["", f"{_count(len(report.changes), 'model')} would change class"]
    lines.append("(decisions stay as made: VERDICT is a person's verdict on the model, if any)")
    return [*lines, "", *change_rows(report.changes)]


def _progress_bar(total: int) -> tqdm[Any]:
    """A progress bar on stderr when it is a terminal, silent when piped (as reindex's)."""
    from tqdm import tqdm  # noqa: PLC0415 - only long commands pay for the import

    return tqdm(
        total=total, desc="re-gating", unit="run", disable=None, file=sys.stderr, leave=False
    )


def cmd_regate(args: argparse.Namespace, config: Config) -> int:
    """Gate every archived run again under OTHER's [gating]; write nothing."""
    other = load_config(args.other)
    bar: tqdm[Any] | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress_bar(total)
        bar.update(done - bar.n)

    # Nothing is written: no outbox, and not closed (closing may fold the index).
    from daemon.archives import open_archive  # noqa: PLC0415 - only regate opens an archive

    manager = open_archive(config, auto_compact=False)
    try:
        report = manager.regate(other.gating, since=args.since, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print_json(report.as_document())
    else:
        name = Path(args.other).name  # the file's name: a long path would not fit
        # Symbols come from files: escaped, as every table of the CLI shows them.
        sys.stdout.write("\n".join(visible(line) for line in render_report(report, name)) + "\n")
    return EXIT_OK
