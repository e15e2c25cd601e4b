"""Committing runs: a pure plan of what is new, rendering, then publishing the folders."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gating.archive.disk import Disk
from gating.archive.durable import fsync_dir, sync_filesystem, syncfs_is_cheap
from gating.archive.layout import Layout
from gating.errors import ArchiveError, GatingError, SummaryError, shown, source_text
from gating.record import render_record
from gating.report import render_recommendations
from gating.rules import ModelAssessment, ModelGatingConfig
from gating.run import ArchivedRun, gate_models, gate_summary, index_entry, run_from_record
from gating.summary import Summary, check_names, parse_summary

__all__ = [
    "GROUP_SIZE",
    "Plan",
    "PreparedRun",
    "Rendered",
    "archive_in_groups",
    "duplicate_result",
    "plan_group",
    "prepare_run",
    "publish",
    "render",
]

GROUP_SIZE = 50  # runs committed together by archive_training_runs and the service
_T = TypeVar("_T")
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class PreparedRun:
    """A parsed and gated summary, not yet given a timestamp or written."""

    summary: Summary
    assessments: tuple[ModelAssessment, ...]
    config: ModelGatingConfig
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A run with its timestamp and the bytes of its three files, ready to publish."""

    run: ArchivedRun
    files: Mapping[str, bytes]
    entry: dict[str, Any]


def prepare_run(
    summary_data: Mapping[str, Any] | bytes | bytearray | str,
    config: ModelGatingConfig,
    *,
    max_bytes: int,
    source: str | None = None,
    sha256: str | None = None,
) -> PreparedRun:
    """Parse and gate a summary without touching the disk (SummaryError if invalid, or if
    parsing or gating it fails in any other way: one line, never a service that dies on
    the same file at every start)."""
    try:
        summary = check_names(parse_summary(summary_data, max_bytes=max_bytes, sha256=sha256))
        return PreparedRun(summary, gate_models(summary, config), config, source)
    except GatingError:
        raise
    except (ValueError, ArithmeticError, TypeError, RecursionError) as error:
        raise SummaryError(f"file: cannot be gated ({error!r})") from error


def archive_in_groups(
    summaries: Iterable[_T],
    prepare: Callable[[_T], PreparedRun],
    commit_many: Callable[[Sequence[PreparedRun]], list[ArchivedRun]],
) -> list[ArchivedRun]:
    """Prepare and commit summaries in groups of GROUP_SIZE (both archives'
    archive_many); an invalid one raises SummaryError naming its position, after those
    before it are archived."""
    runs: list[ArchivedRun] = []
    group: list[PreparedRun] = []
    for position, summary_data in enumerate(summaries):
        try:
            group.append(prepare(summary_data))
        except SummaryError as error:
            runs.extend(commit_many(group))
            raise type(error)(f"summary #{position}: {error}") from None  # the same kind
        if len(group) == GROUP_SIZE:
            runs.extend(commit_many(group))
            group.clear()
    runs.extend(commit_many(group))
    return runs


def render(prepared: PreparedRun, timestamp: str) -> Rendered:
    """Give a prepared run its timestamp and render its files and index entry (before
    anything is written: a failure is ArchiveError, and nothing of the group is kept)."""
    try:
        return _render(prepared, timestamp)
    except (ValueError, ArithmeticError, TypeError, RecursionError) as error:
        raise ArchiveError(
            f"run {shown(prepared.summary.run_id)}: cannot be rendered ({error!r})"
        ) from error


def _render(prepared: PreparedRun, timestamp: str) -> Rendered:
    source = None if prepared.source is None else source_text(prepared.source)
    run = gate_summary(
        prepared.summary, prepared.config, timestamp, source, assessments=prepared.assessments
    )
    record = run.to_record()
    files = {
        "summary.json": prepared.summary.raw,
        "model_assessments.json": render_record(record),
        "recommendations.md": render_recommendations(run).encode("utf-8"),
    }
    return Rendered(run, files, index_entry(record))


@dataclass(frozen=True, slots=True)
class Plan:
    """What a group commit does with each prepared run, in input order.

    ``fresh`` are the runs to write. Each step is either the timestamp a run was archived
    under before (a duplicate of an earlier commit), or (position in ``fresh``, whether it
    repeats an earlier summary of this same group).
    """

    fresh: tuple[PreparedRun, ...]
    steps: tuple[str | tuple[int, bool], ...]


def plan_group(prepared: Sequence[PreparedRun], owner_of: Callable[[str], str | None]) -> Plan:
    """Which runs of a group are new, given who already owns a summary's sha256."""
    fresh: list[PreparedRun] = []
    in_group: dict[str, int] = {}
    steps: list[str | tuple[int, bool]] = []
    for item in prepared:
        sha256 = item.summary.sha256
        if (existing := owner_of(sha256)) is not None:
            steps.append(existing)
        elif sha256 in in_group:
            steps.append((in_group[sha256], True))
        else:
            in_group[sha256] = len(fresh)
            steps.append((len(fresh), False))
            fresh.append(item)
    return Plan(tuple(fresh), tuple(steps))


def duplicate_result(
    item: PreparedRun, timestamp: str, record: bytes | None, path: Path | None = None
) -> ArchivedRun:
    """The result for bytes archived before as run ``timestamp``: that run as ``record``
    (its model_assessments.json) holds it, gated then against the champions of then; gated
    again only when the record cannot be read (not what today's thresholds would say)."""
    if record is not None:
        try:
            run = run_from_record(json.loads(record), path)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            pass  # edited by hand: recovery or a query reports it; the bytes are still ours
        else:
            return dataclasses.replace(run, duplicate=True)
    run = gate_summary(item.summary, item.config, timestamp, assessments=item.assessments)
    return dataclasses.replace(run, path=path, duplicate=True)


def publish(
    layout: Layout,
    group: Sequence[Rendered],
    disk: Disk,
    published: list[Rendered],
    *,
    sync: bool = True,
) -> None:
    """Build each run folder in staging, flush them, and rename them into place.

    The run or group is flushed with one syncfs where that is cheap (the system has it and
    little unwritten data waits: see ``syncfs_is_cheap``); else each file and staging
    folder is fsynced. Either way every byte is on disk before the first rename,
    so a crash leaves staging folders (dropped by recovery), never a torn run. Each run
    renamed into place is appended to ``published``: after an error, those are archived.
    """
    if not group:
        return
    one_sync = sync and syncfs_is_cheap()
    # Opened before the first write: syncfs reports the write-back errors seen since.
    try:
        folder = os.open(layout.root, _FOLDER_FLAGS)
    except FileNotFoundError:  # the first run of a new archive
        layout.root.mkdir(parents=True, exist_ok=True)
        folder = os.open(layout.root, _FOLDER_FLAGS)
    stagings: list[Path] = []
    try:
        for rendered in group:
            staging = layout.staging(rendered.run.timestamp)
            staging.mkdir()
            stagings.append(staging)
            for name, data in rendered.files.items():
                disk.write(staging / name, data, staged=True, sync=sync and not one_sync)
            if sync and not one_sync:
                fsync_dir(staging)
        if one_sync:
            sync_filesystem(folder)
        disk.step("archive:staged")
        for staging, rendered in zip(stagings, group, strict=True):
            os.rename(staging, layout.run(rendered.run.timestamp))
            published.append(rendered)
            disk.step("archive:published")
        if sync:
            with contextlib.suppress(OSError):
                # An fsync failing after the renames lands here: the runs are in place.
                os.fsync(folder)
    except BaseException:
        for staging in stagings[len(published) :]:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(folder)
    disk.step("archive:committed")
