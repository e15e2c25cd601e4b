"""`gatewatch push FILE... --to URL` and `gatewatch push --spool`: send runs to a server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from daemon.cli.output import print_json, visible
from daemon.errors import Refused
from daemon.exits import EXIT_FAILED, EXIT_OK

__all__ = ["cmd_push"]


def _print(args: argparse.Namespace, results: list[Any]) -> None:
    """Each result as a line (or all as one JSON document with --json)."""
    if args.json:
        print_json([result.as_dict() for result in results])
        return
    for result in results:
        line, to_stderr = _line(result)
        print(visible(line), file=sys.stderr if to_stderr else sys.stdout)


def _line(result: Any) -> tuple[str, bool]:
    """The line for one result, and whether it goes to stderr."""
    if result.outcome == "archived":
        return f"archived {result.timestamp}  {result.source}", False
    if result.outcome == "duplicate":
        return f"duplicate of {result.timestamp}  {result.source}", False
    if result.outcome == "spooled":
        return f"gatewatch: {result.source}: spooled: {result.reason}", True
    return f"gatewatch: {result.source}: {result.outcome}: {result.reason}", True


def cmd_push(args: argparse.Namespace, _config: Any) -> int:
    from gating.errors import PushRefusedError  # noqa: PLC0415 - only push sends
    from gating.sending import PushResult, Spool, push  # noqa: PLC0415

    if not args.files and not args.spool:
        raise Refused("push: name FILEs to send, or --spool to send what the spool keeps")
    if args.files and not args.to:
        raise Refused("push: --to URL is needed to send FILEs")
    token = os.environ.get(args.token_env)
    if not token:
        raise Refused(f"push: ${args.token_env} is not set (the server's submit token)")
    spool = Spool(args.spool_dir)
    # A server found unreachable is not tried again for the next file (a hung one took
    # the whole timeout for each): what is for it is spooled at once.
    unreachable: dict[str, str] = {}
    # --to with --spool: every waiting summary goes to that server (the old one moved).
    results: list[PushResult] = []
    if args.spool:
        results, _, _ = spool.send_reporting(token, url=args.to, unreachable=unreachable)
    spool_to = args.to if args.spool else None
    for name in args.files:
        try:
            result = push(
                Path(name), url=args.to, token=token, spool=spool.folder, spool_to=spool_to,
                unreachable=unreachable,
            )  # fmt: skip
        except PushRefusedError as refused:  # the token or the URL: nothing else can be
            _print(args, [*results, *refused.earlier])  # sent either; what was is said
            raise
        except OSError as error:  # this file only (missing, unreadable): the rest go on
            results.append(PushResult(name, "skipped", reason=error.strerror or str(error)))
            continue
        results += [*result.earlier, result]  # the spool is sent first: its results too
    _print(args, results)
    waiting = len(spool.entries())
    if not args.json and waiting:
        for server, why in unreachable.items():  # why they wait: down, or the token refused
            print(visible(f"gatewatch: {server}: {why}"), file=sys.stderr)
        print(
            f"gatewatch: {waiting} {'summary waits' if waiting == 1 else 'summaries wait'} "
            f"in {spool.folder} (gatewatch push "
            "--spool sends them; add --to URL to send them to another server)",
            file=sys.stderr,
        )
    rejected = any(r.outcome in ("rejected", "skipped", "failed") for r in results)
    return EXIT_FAILED if rejected else EXIT_OK
