"""The master index format: one run per line, read and written as streams of lines."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "HEADER",
    "entry_line",
    "index_run_lines",
    "line_keys",
    "line_model_json",
    "line_timestamp",
    "parse_journal",
    "render_index",
    "symbol_key",
]

HEADER = b'{"format": 1, "runs": [\n'
FOOTER = b"\n]}\n"

# The start of a line as entry_line writes it (index_entry's key order).
_START = re.compile(
    rb'\{"timestamp": "(\d{8}T\d{12}Z)", "run_id": (null|"(?:[^"\\]|\\.)*"), '
    rb'"sha256": "([0-9a-f]{64})"'
)


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


def line_keys(line: bytes) -> tuple[str, str] | None:
    """(timestamp, sha256) of a run line, cheaply; None if it is not a run."""
    match = _START.match(line)
    if match:
        return match.group(1).decode(), match.group(3).decode()
    try:
        entry = json.loads(line)
        return str(entry["timestamp"]), str(entry["sha256"])
    except (ValueError, KeyError, TypeError):
        return None


_PREFIX = b'{"timestamp": "'
_RUN_ID = b'", "run_id": '


def line_timestamp(line: bytes) -> str | None:
    """The timestamp of a run line: a slice for our own lines, a parse otherwise."""
    if line.startswith(_PREFIX) and line[37:38] == b'"':
        return line[15:37].decode()
    keys = line_keys(line)
    return None if keys is None else keys[0]


def line_model_json(line: bytes, key: bytes) -> bytes | None:
    """One symbol's history record from a run line, as JSON; None if the run lacks it.

    ``key`` comes from symbol_key. Only the symbol's own object is cut out, never the
    whole line parsed: model objects hold no nested objects, and the key cannot occur
    unescaped inside a JSON string.
    """
    at = line.find(key)
    if at < 0:
        return None
    # Our own lines start '{"timestamp": "<22 chars>", "run_id": <JSON>, "sha256": ...':
    # cut the pieces out by position, the hot path of `gatewatch history`.
    run_id_end = line.find(b', "sha256": "', 50)
    if line.startswith(_PREFIX) and line[37:50] == _RUN_ID and 0 < run_id_end < at:
        start = at + len(key)
        end = line.index(b"}", start) + 1
        return b"{" + line[1:run_id_end] + b", " + line[start:end]
    entry = json.loads(line)
    model = entry["models"].get(json.loads(key[:-3]))
    if model is None:
        return None
    record = {"timestamp": entry["timestamp"], "run_id": entry.get("run_id"), **model}
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


def symbol_key(symbol: str) -> bytes:
    """How a symbol's model object starts inside a run line."""
    return json.dumps(symbol, ensure_ascii=False).encode("utf-8") + b": {"


def parse_journal(data: bytes) -> tuple[list[tuple[str, str, bytes]], int]:
    """(timestamp, sha256, line) of each complete journal line, and the bytes consumed.

    A torn or unreadable line (a crash mid-append) is skipped.
    """
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        if line.strip():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry = json.loads(line)
                records.append((str(entry["timestamp"]), str(entry["sha256"]), line))
    return records, end
