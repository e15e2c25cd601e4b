"""Tests for daemon.config_paths: what the disk says of the configured folders."""

from __future__ import annotations

from pathlib import Path

from daemon.config import parse_config
from daemon.config_paths import missing_paths, watch_path_problem, why_not_watched


def test_missing_paths_names_folders_that_do_not_exist(tmp_path: Path) -> None:
    """missing_paths lists the watched folders absent now, in order."""
    (tmp_path / "here").mkdir()
    config = parse_config({"watch": {"paths": ["here", "gone", "/does/not/exist"]}}, tmp_path)
    assert missing_paths(config) == [tmp_path / "gone", Path("/does/not/exist")]


def test_a_watched_path_that_is_a_file_is_not_a_folder_rather_than_missing(
    tmp_path: Path,
) -> None:
    """A watched path that is a file (or a link to one) is named "not a folder", one that
    is absent (or a link to nowhere) "does not exist" (a file was said not to exist)."""
    (tmp_path / "here").mkdir()
    (tmp_path / "notes.txt").write_text("x", "utf-8")
    (tmp_path / "to-file").symlink_to(tmp_path / "notes.txt")
    (tmp_path / "to-nowhere").symlink_to(tmp_path / "nowhere")
    assert why_not_watched(tmp_path / "notes.txt") == "not a folder"
    assert why_not_watched(tmp_path / "to-file") == "not a folder"
    assert why_not_watched(tmp_path / "gone") == "does not exist"
    assert why_not_watched(tmp_path / "to-nowhere") == "does not exist"
    config = parse_config({"watch": {"paths": ["here", "gone", "notes.txt"]}}, tmp_path)
    assert watch_path_problem(config) == f"watch.paths: {tmp_path / 'notes.txt'} is not a folder"
    fine = parse_config({"watch": {"paths": ["here", "gone", "to-nowhere"]}}, tmp_path)
    assert watch_path_problem(fine) is None


def test_a_watched_path_that_cannot_be_looked_at_says_why(tmp_path: Path) -> None:
    """A symlink loop cannot be reached, and says why; a path under a file does not exist
    (ELOOP and EACCES made Path.is_dir raise; mode 0 needs a process without root's
    override: tests/e2e/test_service.py)."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "notes.txt").write_text("x", "utf-8")
    assert why_not_watched(tmp_path / "loop") == (
        "cannot be reached (Too many levels of symbolic links)"
    )
    assert why_not_watched(tmp_path / "notes.txt" / "in") == "does not exist"
    config = parse_config({"watch": {"paths": ["loop", "notes.txt/in"]}}, tmp_path)
    assert missing_paths(config) == [tmp_path / "loop", tmp_path / "notes.txt" / "in"]
