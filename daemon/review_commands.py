"""The decision commands of `gatewatch`: review, decide, deployable, audit."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable
from typing import Any

from daemon.cli import EXIT_OK, _manager, _print_json, _print_table
from daemon.config import Config
from daemon.documents import (
    audit_document,
    decision_document,
    deployable_document,
    review_document,
)
from gating import DecisionError, TrainingArchiveManager

__all__ = ["add_commands", "default_by", "history_reasons"]

_METRIC_HEADERS = ["FITNESS", "PF", "CONSISTENCY", "MAXDD"]
_METRICS = ["fitness", "profit_factor", "consistency", "max_drawdown"]


def default_by() -> str:
    """Who decides when --by is not given: $SUDO_USER, else the login name."""
    by = os.environ.get("SUDO_USER", "").strip()
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        raise DecisionError("--by: cannot tell who you are; give --by NAME") from None


def cmd_review(args: argparse.Namespace, config: Config) -> int:
    """Models awaiting review, newest first, and why."""
    queue = review_document(_manager(config, args.faults))
    if args.json:
        _print_json(queue)
    elif not queue:
        print("no models await review")
    else:
        rows = [
            [i["timestamp"], i["run_id"], i["symbol"], *(i[k] for k in _METRICS),
             "; ".join(i["reasons"])]
            for i in queue
        ]  # fmt: skip
        _print_table(["TIMESTAMP", "RUN_ID", "SYMBOL", *_METRIC_HEADERS, "REASONS"], rows)
        print(f"\n{len(queue)} models await review")
    return EXIT_OK


def cmd_decide(args: argparse.Namespace, config: Config) -> int:
    """Approve or drop one model of one run, with a reason and a name."""
    manager = _manager(config, args.faults)
    decision = manager.decide(
        args.timestamp,
        args.symbol,
        args.verdict,
        by=args.by if args.by is not None else default_by(),
        reason=args.reason if args.reason is not None else "",
        force=args.force,
    )
    if args.json:
        _print_json(decision_document(decision))
        return EXIT_OK
    note = " (overrides the gate)" if decision.override else ""
    print(
        f"decided: {decision.symbol} of run {decision.timestamp}: {decision.verdict}"
        f" (was {decision.previous}){note}, by {decision.by}: {decision.reason}"
    )
    for event in decision.events:
        if event["type"] == "champion_changed":
            data = event["data"]
            was = (data.get("previous") or {}).get("timestamp") or "none"
            print(f"champion of {decision.symbol}: {was} -> {data.get('champion') or 'none'}")
    return EXIT_OK


def cmd_deployable(args: argparse.Namespace, config: Config) -> int:
    """Every symbol's champion (as it stood at --at TIME)."""
    documents = deployable_document(_manager(config, args.faults), at=args.at)
    if args.json:
        _print_json(documents)
    elif not documents:
        print("nothing is deployable" + (f" at {args.at}" if args.at else ""))
    else:
        rows = [
            [symbol, d["timestamp"], d["run_id"], *(d[k] for k in _METRICS),
             d["checkpoint_step"], d["verdict_by"], d["reason"]]
            for symbol, d in documents.items()
        ]  # fmt: skip
        headers = ["SYMBOL", "TIMESTAMP", "RUN_ID", *_METRIC_HEADERS, "CHECKPOINT", "BY", "REASON"]
        _print_table(headers, rows)
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, config: Config) -> int:
    """Every decision (on one symbol), oldest first."""
    decisions = audit_document(_manager(config, args.faults), args.symbol)
    if args.json:
        _print_json(decisions)
    elif not decisions:
        print("no decisions" + (f" on {args.symbol}" if args.symbol else ""))
    else:
        rows = [
            [d["decided_at"], d["timestamp"], d["symbol"], d["verdict"], d["previous"],
             "override" if d["override"] else "", d["by"], d["reason"]]
            for d in decisions
        ]  # fmt: skip
        headers = ["DECIDED_AT", "TIMESTAMP", "SYMBOL", "VERDICT", "PREVIOUS", "OVERRIDE", "BY"]
        _print_table([*headers, "REASON"], rows)
    return EXIT_OK


def history_reasons(
    manager: TrainingArchiveManager, symbol: str, records: list[dict[str, Any]]
) -> list[str]:
    """Each history record's reasons in words (empty where it is APPROVED)."""
    return [
        ""
        if record["classification"] == "APPROVED"
        else "; ".join(manager.model_reasons(record["timestamp"], symbol, record))
        for record in records
    ]


def add_commands(add: Callable[[str, Callable[..., int], str], argparse.ArgumentParser]) -> None:
    """Register review, decide, deployable and audit with the CLI's parser."""
    add("review", cmd_review, "models awaiting review, newest first, and why")
    decide = add("decide", cmd_decide, "approve or drop one model of one run")
    decide.add_argument("timestamp", metavar="TIMESTAMP", help="a run: timestamp, prefix, latest")
    decide.add_argument("symbol", metavar="SYMBOL")
    decide.add_argument("verdict", metavar="approve|drop")
    decide.add_argument("--reason", metavar="TEXT", help="why (required)")
    decide.add_argument("--by", metavar="NAME", help="who (default: $SUDO_USER, else login name)")
    decide.add_argument("--force", action="store_true", help="override the gate's APPROVED/DROP")
    deployable = add("deployable", cmd_deployable, "every symbol's champion")
    deployable.add_argument(
        "--at", metavar="TIME", help="as it stood then (a TIMESTAMP or an ISO 8601 time)"
    )
    add("audit", cmd_audit, "every decision, oldest first").add_argument(
        "symbol", nargs="?", metavar="SYMBOL"
    )
