"""Tests for daemon.reading: a summary file read safely, or refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.reading import NotRegularFileError, read_regular_file, real_roots
from gating import SummaryError
from tests.conftest import summary_bytes


def test_fifo_is_never_opened_for_reading(tmp_path: Path) -> None:
    """A FIFO is refused at once instead of blocking the reader."""
    fifo = tmp_path / "x_summary.json"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        read_regular_file(fifo, 100)


def test_symlink_is_not_followed(tmp_path: Path) -> None:
    """A symlink, even to a valid file, is refused."""
    target = tmp_path / "real.json"
    target.write_bytes(summary_bytes())
    (tmp_path / "link_summary.json").symlink_to(target)
    with pytest.raises(NotRegularFileError, match="symlink"):
        read_regular_file(tmp_path / "link_summary.json", 10_000)


def test_oversize_file_is_not_read(tmp_path: Path) -> None:
    """A file past max_bytes is a SummaryError before any byte is read."""
    big = tmp_path / "big_summary.json"
    big.write_bytes(b" " * 101)
    with pytest.raises(SummaryError, match="larger than max_file_bytes"):
        read_regular_file(big, 100)


def test_a_file_larger_than_its_size_said_is_cut_at_max_bytes() -> None:
    """A file that grows past its stat size (as /proc files do) is caught past max_bytes."""
    proc = Path("/proc/cpuinfo")
    assert proc.stat().st_size == 0
    assert len(read_regular_file(proc, 1 << 20)) > 100
    with pytest.raises(SummaryError, match="grew past max_file_bytes"):
        read_regular_file(proc, 100)


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 200_001])
def test_whole_file_is_read_in_chunks(tmp_path: Path, size: int) -> None:
    """Files of any size, across the 64 KiB chunks, come back byte for byte."""
    path = tmp_path / "x_summary.json"
    data = os.urandom(size)
    path.write_bytes(data)
    assert read_regular_file(path, 1 << 20) == data


def test_a_file_through_a_symlinked_folder_outside_the_watched_ones_is_not_read(
    tmp_path: Path,
) -> None:
    """A file whose folder on the way is a symlink to outside the watched folders is
    refused, not read (its bytes reached the archive's _rejected/)."""
    watched, outside = tmp_path / "in", tmp_path / "outside"
    watched.mkdir()
    outside.mkdir()
    (outside / "x_summary.json").write_bytes(summary_bytes())
    (watched / "race").symlink_to(outside)
    with pytest.raises(NotRegularFileError, match="outside the watched folders"):
        read_regular_file(watched / "race" / "x_summary.json", 10_000, real_roots([watched]))


def test_a_file_in_a_watched_folder_that_is_a_symlink_is_read(tmp_path: Path) -> None:
    """A watched path may itself be a symlink: a file in the folder it points to is read,
    through the link or not, and so is one whose symlinked folder stays inside."""
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "sub" / "x_summary.json").write_bytes(b"{}")
    link = tmp_path / "link"
    link.symlink_to(real)
    (real / "again").symlink_to(real / "sub")
    for path in (link / "sub", real / "sub", link / "again"):
        assert read_regular_file(path / "x_summary.json", 100, real_roots([link])) == b"{}"
