"""`gatewatch notify test|status`: send a sample event now, show what each target has left."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from daemon.cli.output import print_json
from daemon.exits import EXIT_FAILED, EXIT_OK
from daemon.notify.settings import NotifySettings
from gating.archive.outbox import OUTBOX_DIR, Outbox
from gating.events import sample_event

__all__ = ["cmd_notify_status", "cmd_notify_test"]


def cmd_notify_test(args: argparse.Namespace, config: Any) -> int:
    """Send a sample event to every target now (not through the outbox); print each result."""
    from daemon.notify.transport import deliver  # noqa: PLC0415 - http.client, subprocess

    settings: NotifySettings = config.notify
    if not settings.targets:
        print("gatewatch: no notification targets in [notify]", file=sys.stderr)
        return EXIT_FAILED
    event = sample_event(args.event)
    results = []
    for target in settings.targets:
        result = deliver(target, event, settings.timeout_seconds)
        results.append(
            {
                "target": target.name,
                "kind": target.kind,
                "destination": target.destination,
                "event_id": event["id"],
                "event_type": event["type"],
                "ok": result.ok,
                "detail": result.detail,
                "duration_ms": result.duration_ms,
            }
        )
        if not args.json:
            verdict = "delivered" if result.ok else "FAILED"
            print(
                f"{target.name} ({target.kind} {target.destination}): {verdict}: "
                f"{result.detail} ({result.duration_ms:.0f} ms)"
            )
    if args.json:
        print_json(results)
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAILED


def cmd_notify_status(args: argparse.Namespace, config: Any) -> int:
    """Pending, failed and delivered counts per target, and what the outbox holds."""
    from daemon.archives import deliveries_of, open_archive, shared  # noqa: PLC0415

    settings: NotifySettings = config.notify
    archive = open_archive(config) if shared(config) else None
    if archive is not None:
        args.opened.append(archive)
    outbox = (
        deliveries_of(config, archive)
        if archive is not None
        else Outbox(config.archive.dir / OUTBOX_DIR)
    )
    rows = []
    for target in settings.targets:
        counts = outbox.counts(target.name, target.wants)
        rows.append(
            {
                "target": target.name,
                "kind": target.kind,
                "destination": target.destination,
                "events": list(target.events),
                **counts,
            }
        )
    segments, size = outbox.size()
    if args.json:
        document = {"targets": rows, "outbox": {"segments": segments, "bytes": size}}
        print_json(document)
        return EXIT_OK
    if not rows:
        print("no notification targets in [notify]", file=sys.stderr)
    else:
        headers = ["TARGET", "KIND", "DESTINATION", "PENDING", "FAILED", "DELIVERED"]
        keys = ["target", "kind", "destination", "pending", "failed", "delivered"]
        table = [headers, *[[str(row[k]) for k in keys] for row in rows]]
        widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
        for line in table:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    print(f"outbox: {segments} segments, {size} bytes")
    return EXIT_OK
