"""Re-gating the archive under another config (what-if): nothing is written.

Each run's stored summary.json is parsed and gated again, and its model_assessments.json
read for what was decided then; that part is independent per run, so a large archive is
spread over worker processes in chunks of run folders. The parent folds the results in
time order (``gating.regate.Regater``), where the champion comparison and the decisions
need the order.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import TYPE_CHECKING

import orjson

from gating.archive.durable import read_regular
from gating.archive.layout import (
    RECORD_NAME,
    RUN_FILE_MAX,
    Layout,
    is_timestamp,
    ts_from_micros,
    ts_micros,
)
from gating.archive.moments import resolve_time
from gating.champion import ChampionMetrics
from gating.comparison import COMPARED_METRICS
from gating.errors import ArchiveError, ArgumentError, GatingError, shown
from gating.explain import reasons
from gating.progress import Progress
from gating.regate import Regater, RegateReport, RunOutcome, letter_of
from gating.rules import (
    Classification,
    ModelGatingConfig,
    ModelMetrics,
    assess_model,
    classifier,
)
from gating.run import assessment_from_record
from gating.summary import parse_summary

if TYPE_CHECKING:
    from gating.archive.storage import Storage

__all__ = [
    "CHUNK_RUNS",
    "PARALLEL_MIN_RUNS",
    "gate_run",
    "gate_runs",
    "gate_stored",
    "regate_archive",
    "regate_with",
]


CHUNK_RUNS = 500  # run folders a worker re-gates per task
PARALLEL_MIN_RUNS = 2_000  # below this, starting workers costs more than it saves


def _read(path: str) -> bytes:
    """A run file, never a FIFO (it blocked) nor /dev/zero (it filled memory); plain
    strings: pathlib costs ~40 us a run here."""
    return read_regular(path, RUN_FILE_MAX)


def gate_run(
    root: str,
    timestamp: str,
    config: ModelGatingConfig,
    classify: Callable[[ModelMetrics], Classification] | None = None,
) -> RunOutcome:
    """Re-gate one run folder's summary under ``config`` (its champion table left to the fold).

    ``classify`` is ``classifier(config)``, made once for many runs.
    """
    folder = f"{root}/{timestamp}/"
    try:
        record, raw = _read(folder + RECORD_NAME), _read(folder + "summary.json")
    except OSError as error:
        return RunOutcome(timestamp, ts_micros(timestamp), None, error=str(error))
    return gate_stored(timestamp, record, raw, config, classify)


def gate_stored(
    timestamp: str,
    record: bytes,
    raw: bytes,
    config: ModelGatingConfig,
    classify: Callable[[ModelMetrics], Classification] | None = None,
) -> RunOutcome:
    """Re-gate one stored run (its record's and its summary's bytes) under ``config``."""
    classify = classify or classifier(config)
    if not is_timestamp(timestamp):  # a row written by hand into a shared database
        raise ArchiveError(
            f"run {shown(timestamp)}: the stored value cannot be read (no run timestamp)"
        )
    micros = ts_micros(timestamp)
    try:
        try:
            stored = orjson.loads(record)
        except orjson.JSONDecodeError:
            stored = json.loads(record)  # Infinity, which orjson does not read
        if hashlib.sha256(raw).hexdigest() != stored["summary_sha256"]:  # edited by hand
            raise ValueError("summary.json: changed since it was archived (not its sha256)")
        summary = parse_summary(raw, max_bytes=len(raw), sha256=stored["summary_sha256"])
        records = stored["models"]
        symbols = tuple(model.symbol for model in summary.models)
        if symbols != tuple(model["symbol"] for model in records):
            raise ValueError("the record and the summary gate different symbols")
        now = "".join([letter_of(model["classification"]) for model in records])
    except (ValueError, KeyError, TypeError, GatingError) as error:
        return RunOutcome(timestamp, micros, None, error=str(error))
    gated = "".join([letter_of(classify(model)) for model in summary.models])
    why = None
    if gated != now:  # words only for the models whose class changes
        try:
            why = {
                metrics.symbol: (
                    "; ".join(reasons(assess_model(metrics, config, validated=True))),
                    "; ".join(reasons(assessment_from_record(records[i]))),
                )
                for i, metrics in enumerate(summary.models)
                if gated[i] != now[i]
            }
        except (ValueError, KeyError, TypeError, GatingError) as error:  # a record edited
            return RunOutcome(timestamp, micros, None, error=str(error))  # by hand: skipped
    values = None
    if config.champion_tolerances:
        values = tuple(tuple(getattr(m, name) for name in COMPARED_METRICS) for m in summary.models)
    return RunOutcome(timestamp, micros, stored.get("run_id"), symbols, now, gated, values, why)


def gate_runs(root: str, timestamps: Sequence[str], config: ModelGatingConfig) -> list[RunOutcome]:
    """gate_run over a chunk of run folders (a worker process's task)."""
    classify = classifier(config)
    return [gate_run(root, timestamp, config, classify) for timestamp in timestamps]


def _worker_signals() -> None:
    """A worker leaves Ctrl-C to its parent and dies of SIGTERM at once (a forked worker
    inherited the CLI's handler, and printed a traceback when its pool terminated it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (no other thread in this process), else forkserver."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _outcomes(
    layout: Layout,
    names: Sequence[str],
    config: ModelGatingConfig,
    workers: int,
    progress: Progress | None,
) -> Generator[RunOutcome, None, None]:
    """Every run re-gated, oldest first: in worker processes when it pays."""
    chunks = [names[i : i + CHUNK_RUNS] for i in range(0, len(names), CHUNK_RUNS)]
    done = 0
    if workers <= 1 or len(names) < PARALLEL_MIN_RUNS:
        results: Iterable[list[RunOutcome]] = (
            gate_runs(str(layout.root), c, config) for c in chunks
        )
        for chunk in results:
            done += len(chunk)
            yield from chunk
            if progress is not None:
                progress(done, len(names))
        return
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_worker_signals)
    try:
        roots, configs = [str(layout.root)] * len(chunks), [config] * len(chunks)
        for chunk in pool.map(gate_runs, roots, chunks, configs):
            done += len(chunk)
            yield from chunk
            if progress is not None:
                progress(done, len(names))
    except BrokenProcessPool:  # a worker killed (out of memory, say): a Pool waited for ever
        raise ArchiveError("regate: a worker process ended abruptly (out of memory?)") from None
    finally:
        _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: the chunks queued are dropped and its workers terminated
    (leaving its ``with``, Ctrl-C waited for every chunk; killed, it left them behind)."""
    workers = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(5)


def default_workers() -> int:
    """The processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def regate_archive(
    layout: Layout,
    catalog: Storage,
    config: ModelGatingConfig,
    *,
    since: str | datetime | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> RegateReport:
    """Every archived run (since ``since``) gated again under ``config``; nothing is written.

    ``since`` is a TIME: a run timestamp, a unique prefix, ``latest``, or ISO 8601. Runs
    before it are not re-gated; their champions (as they stood) are the starting ones.
    """
    count = workers if workers is not None else default_workers()
    return regate_with(
        catalog, config, since, lambda names: _outcomes(layout, names, config, count, progress)
    )


def regate_with(
    catalog: Storage,
    config: ModelGatingConfig,
    since: str | datetime | None,
    outcomes: Callable[[Sequence[str]], Iterable[RunOutcome]],
) -> RegateReport:
    """regate_archive over any store: ``outcomes(timestamps)`` re-gates those runs in order."""
    if not isinstance(config, ModelGatingConfig):
        raise ArgumentError(f"regate takes a ModelGatingConfig, not {type(config).__name__}")
    start: str | None = None
    before = None
    if since is not None:
        start = resolve_time(catalog, since)[0]
        try:
            earlier: str | None = ts_from_micros(ts_micros(start) - 1)
        except (ValueError, OverflowError):  # since the first moment of year 1: none before
            earlier = None

        def before(symbol: str, decided_to: str) -> ChampionMetrics | None:
            if earlier is None:
                return None
            found = catalog.champion(symbol, earlier, decided_to)
            if found is None:
                return None
            metrics = {m: found.model.get(m) for m in COMPARED_METRICS}
            return ChampionMetrics(found.timestamp, found.run_id, metrics)

    names = [row[0] for row in catalog.runs() if start is None or row[0] >= start]
    regater = Regater(config.champion_tolerances, catalog.decisions(), since=start, before=before)
    return regater.fold(outcomes(names))
