"""Reading run folders' records into catalog rows: here, or by parsing processes of our own.

A large archive's records are parsed by processes of our own (``python -c`` running
``_serve(ROOT)``) fed pickled chunks of names over their pipes (see _Parser for why not
multiprocessing), each asking the disk for the records _READ_AHEAD names ahead.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from gating.archive.catalog_rows import RunRow, entry_rows
from gating.archive.catalog_verdicts import bounds_of_entry
from gating.archive.durable import read_soon
from gating.archive.layout import Layout
from gating.archive.maintenance import Damaged, load_entry
from gating.errors import ArchiveError

__all__ = ["DamagedRun", "RunRows", "parse_all", "parse_runs", "rows_of"]

_AHEAD = 2  # chunks handed to each parsing process ahead of the inserts (flat memory)
_PARSERS = 3  # parsing processes: a record read waits on the disk about as long as it parses
# (at 1,000,000 runs on two cores: one 3,193 runs/s, two 5,098, three 5,778)
_READ_AHEAD = 32  # records asked of the disk ahead of the parsing, in each process: from a
# cold page cache one reader got 4,141 files/s, three 5,850, eight 7,766 (reindex 3,481 ->
# 4,941-5,648 runs/s)
_PROCESS_FROM = 2000  # fewer run folders are parsed here: starting a process costs more
# A parsing process imports this module as the parent did: from where Python finds it, or
# else from the folder the parent imported it from (a script that put it on sys.path).
_HOME = str(Path(__file__).resolve().parents[2])
_CHILD = (
    "import sys; sys.path.append(sys.argv[1]); "
    "from gating.archive.parsing import _serve; _serve(sys.argv[2])"
)

ModelRow = tuple[str, str, int, str, str]


class RunRows(NamedTuple):
    """A run folder's catalog rows: its run, its models, the bounds it was gated under."""

    run: RunRow
    models: list[ModelRow]
    bounds: str | None


class DamagedRun(NamedTuple):
    """A run folder whose record cannot be read: its name, its summary's sha256, why."""

    timestamp: str
    sha256: str | None
    reason: str


def parse_runs(root: str, names: Sequence[str]) -> list[RunRows | DamagedRun]:
    """Each named run folder's rows, or why it is damaged (what the second process does)."""
    layout = Layout(Path(root))
    parsed: list[RunRows | DamagedRun] = []
    for name in _read_ahead(names, lambda ahead: read_soon(layout.record(ahead))):
        try:
            entry = load_entry(layout, name)
        except Damaged as bad:
            parsed.append(DamagedRun(name, bad.sha256, bad.reason))
            continue
        parsed.append(rows_of(entry))
    return parsed


def _read_ahead(names: Sequence[str], will_need: Callable[[str], None]) -> Iterator[str]:
    """The names in order, ``will_need`` called for each _READ_AHEAD names before it is
    yielded: a cold disk answers many reads at once far faster than one after another."""
    for name in names[:_READ_AHEAD]:
        will_need(name)
    for position, name in enumerate(names):
        if position + _READ_AHEAD < len(names):
            will_need(names[position + _READ_AHEAD])
        yield name


def rows_of(entry: dict[str, Any]) -> RunRows:
    """An index entry's catalog rows."""
    run, models = entry_rows(entry)
    return RunRows(run, models, bounds_of_entry(entry))


def parse_all(
    layout: Layout, chunks: Iterable[list[str]], total: int
) -> Generator[list[RunRows | DamagedRun], None, None]:
    """parse_runs of each chunk, in order: by _PARSERS processes of their own when there are
    many (each at most _AHEAD chunks ahead of the caller), else here."""
    root = str(layout.root)
    if total < _PROCESS_FROM:
        yield from (parse_runs(root, chunk) for chunk in chunks)
        return
    with contextlib.ExitStack() as stack:
        parsers = [stack.enter_context(_Parser(root)) for _ in range(_PARSERS)]
        waiting: collections.deque[_Parser] = collections.deque()  # in the order sent
        for number, chunk in enumerate(chunks):
            parser = parsers[number % len(parsers)]
            parser.send(chunk)
            waiting.append(parser)
            if len(waiting) > _AHEAD * len(parsers):
                yield waiting.popleft().receive()
        while waiting:
            yield waiting.popleft().receive()


class _Parser:
    """``_serve(ROOT)`` in a Python process of its own: parse_runs there, fed
    chunks of names and answering with their rows, both pickled over its pipes.

    Not multiprocessing: its spawn start runs the caller's main script again in the child
    (a library user's unguarded script would reindex from there), and forking a service's
    threads is not safe. Only _AHEAD chunks of names (a few kilobytes) wait in the pipe,
    so neither side blocks on a full pipe while the other does.
    """

    def __init__(self, root: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, _HOME, root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._to, self._from = self._process.stdin, self._process.stdout

    def __enter__(self) -> _Parser:
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.kill()  # done or abandoned (cancelled, an error): nothing to keep
        self._process.wait()
        self._to.close()
        self._from.close()

    def send(self, names: list[str]) -> None:
        """Hand a chunk of run folder names over."""
        pickle.dump(names, self._to)
        self._to.flush()

    def receive(self) -> list[RunRows | DamagedRun]:
        """The rows of the oldest chunk handed over and not yet received."""
        try:
            rows: list[RunRows | DamagedRun] | ArchiveError = pickle.load(self._from)  # noqa: S301
        except (EOFError, pickle.UnpicklingError) as error:
            raise ArchiveError(f"reindex: the parsing process failed ({error!r})") from None
        if isinstance(rows, ArchiveError):
            raise rows
        return rows


def _serve(root: str) -> None:
    """The parsing process: answer each pickled chunk of names on stdin with its rows.

    Ctrl-C in a terminal reaches the whole process group: the parent handles it (and ends
    this process), so this one ignores it. A parent gone (its pipes closed) ends it
    quietly: either way, nothing but the parent's one line reaches the person."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    try:
        while True:
            try:
                names = pickle.load(source)  # noqa: S301 - from the process that started us
            except EOFError:
                return
            try:
                answer: list[RunRows | DamagedRun] | ArchiveError = parse_runs(root, names)
            except ArchiveError as error:  # a record that cannot be read now: the parent's
                answer = error
            pickle.dump(answer, sink, protocol=pickle.HIGHEST_PROTOCOL)
            sink.flush()
    except BrokenPipeError:
        # Nothing more can be written: point stdout at nothing, or the flush at exit fails.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
