"""The decision commands of `gatewatch`: review, decide, deployable, audit."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from daemon.cli.commands import EXIT_OK, _manager, _writer
from daemon.cli.output import print_json, print_reasons, print_table, visible
from daemon.cli.queries import METRIC_HEADERS, archive_named, metric_cells
from daemon.config import Config
from daemon.documents import (
    audit_document,
    decision_document,
    parse_last,
    review_document,
    same_but_case,
)
from daemon.text import named
from gating import DecisionError, SymbolNotFoundError

__all__ = ["default_by"]


def default_by() -> str:
    """Who decides when --by is not given: $SUDO_USER, else the login name."""
    by = os.environ.get("SUDO_USER", "").strip()
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        raise DecisionError("--by: cannot tell who you are; give --by NAME") from None


def _why(item: dict[str, Any]) -> list[str]:
    """A queue item's reasons, then its flags (FITNESS_DECLINE, UNSTABLE_TRAINING)."""
    flags = [str(flag) for flag in item.get("flags") or ()]
    return [str(r) for r in item.get("reasons") or ()] + (
        [f"flags {', '.join(flags)}"] if flags else []
    )


def cmd_review(args: argparse.Namespace, config: Config) -> int:
    """Models awaiting review, newest first, and why."""
    queue = review_document(_manager(args, config), parse_last(args.last), flags=not args.json)
    if args.json:
        print_json(queue)
    elif not queue:
        print(f"no models await review in {archive_named(config)}")
    else:
        rows = [
            [i["timestamp"], i["run_id"], i["symbol"], *metric_cells(i)]
            for i in queue
        ]  # fmt: skip
        headers = ["TIMESTAMP", "RUN_ID", "SYMBOL", *METRIC_HEADERS]
        print_table(headers, rows, elastic=("RUN_ID", "SYMBOL"))
        print_reasons([(f"{i['symbol']} {i['timestamp']}", _why(i)) for i in queue])
        waiting = "model awaits" if len(queue) == 1 else "models await"
        print(f"\n{len(queue)} {waiting} review")
    return EXIT_OK


def cmd_decide(args: argparse.Namespace, config: Config) -> int:
    """Approve or drop one model of one run, with a reason and a name."""
    manager = _writer(args, config)
    try:
        decision = manager.decide(
            args.timestamp,
            args.symbol,
            args.verdict,
            by=args.by if args.by is not None else default_by(),
            reason=args.reason if args.reason is not None else "",
            force=args.force,
        )
    except SymbolNotFoundError as error:  # `aapl` for the run's AAPL: say which one is meant
        entry = manager.reader.run_entry(manager.reader.resolve_timestamp(args.timestamp))
        meant = same_but_case(args.symbol, (entry or {}).get("models", {}))
        if meant is None:
            raise
        raise SymbolNotFoundError(
            f"{error} (symbols are case-sensitive: did you mean {meant}?)"
        ) from None
    if decision.unindexed is not None:
        print(visible(f"gatewatch: {decision.unindexed}"), file=sys.stderr)
    if args.json:
        print_json(decision_document(decision))
        return EXIT_OK
    note = " (overrides the gate)" if decision.override else ""
    print(
        visible(
            f"decided: {decision.symbol} of run {decision.timestamp}: {decision.verdict}"
            f" (was {decision.previous}){note}, by {decision.by}: {decision.reason}"
        )
    )
    for event in decision.events:
        if event["type"] == "champion_changed":
            data = event["data"]
            was = (data.get("previous") or {}).get("timestamp") or "none"
            print(
                visible(f"champion of {decision.symbol}: {was} -> {data.get('champion') or 'none'}")
            )
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, config: Config) -> int:
    """Every decision (on one symbol), oldest first."""
    decisions = audit_document(_manager(args, config), args.symbol)
    if args.json:
        print_json(decisions)
    elif not decisions:
        on = f" on {named(args.symbol)}" if args.symbol else ""
        print(f"no decisions{on} in {archive_named(config)}")
    else:
        for d in decisions:  # two lines each: what was decided, then why
            override = " (overrides the gate)" if d["override"] else ""
            print(
                visible(
                    f"{d['decided_at']}  {d['symbol']}  {d['previous']} -> {d['verdict']}"
                    f"{override}  by {d['by']}  run {d['timestamp']}"
                )
            )
            print(visible(f"    {d['reason']}"))
    return EXIT_OK
