"""The master index format (index.json): one run per line, written and read as streams."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["FOOTER", "HEADER", "entry_line", "index_run_lines", "render_index"]

HEADER = b'{"format": 1, "runs": [\n'
FOOTER = b"\n]}\n"


def entry_line(entry: dict[str, Any]) -> bytes:
    """One index entry as one line of JSON (no newline)."""
    return json.dumps(entry, ensure_ascii=False).encode("utf-8")


def render_index(lines: Iterable[bytes]) -> Iterator[bytes]:
    """index.json, in pieces: the header, the run lines, the footer."""
    yield HEADER
    first = True
    for line in lines:
        yield line if first else b",\n" + line
        first = False
    yield FOOTER


def index_run_lines(file_lines: Iterable[bytes]) -> Iterator[bytes]:
    """The run lines of an index.json read line by line.

    A file not in this one-run-per-line form (say, edited by hand) is parsed whole.
    """
    lines = iter(file_lines)
    head = next(lines, b"")
    if head != HEADER:
        document = json.loads(head + b"".join(lines))
        yield from (entry_line(entry) for entry in document["runs"])
        return
    for raw in lines:
        line = raw.rstrip(b"\n").rstrip(b",")
        if line.startswith(b"{"):
            yield line
