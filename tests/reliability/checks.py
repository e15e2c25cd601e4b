"""The consistency checks every reliability test ends with."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import Report, check_archive


def assert_consistent(archive: Path, produced: list[str]) -> Report:
    """Each produced run archived exactly once, index == folders, reindex a no-op, all parse."""
    report = check_archive(archive, produced)
    assert report.lost == []
    assert report.doubled == []
    assert report.incomplete_runs == []
    assert report.unparsable == []
    assert report.staging_left == []
    assert report.index_matches_folders
    assert report.reindex_unchanged
    assert report.runs_archived == len(produced)
    return report
