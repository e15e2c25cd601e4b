"""Tests for gating.archive.durable: reading our own small files whole."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gating.archive.durable import (
    no_room,
    read_regular,
    read_soon,
    replace_small,
    temp_name,
    write_durably,
)


@pytest.mark.parametrize("size", [0, 1, 9_000, 65_536, 1 << 20])
def test_a_regular_file_is_read_whole_with_one_read_of_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """The bytes come back whole from one read: no second read asks for a buffer the size
    of the limit (a gigabyte, for a record of a few kilobytes)."""
    path = tmp_path / "record.json"
    data = os.urandom(size)
    path.write_bytes(data)
    asked: list[int] = []
    real_read = os.read

    def read(fd: int, count: int) -> bytes:
        asked.append(count)
        return real_read(fd, count)

    monkeypatch.setattr(os, "read", read)
    assert read_regular(path, 1 << 30) == data
    assert asked == [size + 1]


def test_a_file_larger_than_its_size_said_is_read_to_the_limit() -> None:
    """A file that grows past its stat size (as /proc files do) is read on, never past the limit."""
    proc = Path("/proc/self/status")
    assert proc.stat().st_size == 0
    assert b"Name:" in read_regular(proc, 1 << 20)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        read_regular(proc, 100)


@pytest.mark.parametrize("size", [101, 4096])
def test_a_file_past_the_limit_is_refused(tmp_path: Path, size: int) -> None:
    """A file larger than max_bytes raises OSError (EFBIG) instead of being read."""
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * size)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        read_regular(path, 100)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _symlink(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _folder(path: Path) -> None:
    path.mkdir()


def _missing(_path: Path) -> None:
    """Nothing at the path."""


@pytest.mark.timeout(10)
@pytest.mark.parametrize("hostile", [_fifo, _symlink, _folder, _missing])
def test_asking_for_a_file_read_soon_never_blocks_nor_raises(
    tmp_path: Path, hostile: Callable[[Path], None]
) -> None:
    """A FIFO, a symlink, a folder or nothing at the path: the advice passes silently and
    leaves the folder as it was (the real read says what is wrong)."""
    path = tmp_path / "record.json"
    hostile(path)
    before = sorted(p.name for p in tmp_path.iterdir())
    read_soon(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


_REFUSED = "Too many levels of symbolic links|No such device or address"  # ELOOP, ENXIO


def _plant(path: Path, kind: str, victim: Path) -> None:
    """A symlink to ``victim`` or a FIFO under ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(victim)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_durable_write_never_goes_through_what_stands_at_its_temp_name(
    tmp_path: Path, kind: str
) -> None:
    """A symlink or a FIFO planted under a write's temp name: the write fails (OSError)
    and removes it, without writing through the link or blocking; the next one works."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "index.json"
    _plant(temp_name(target), kind, victim)
    with pytest.raises(OSError, match=_REFUSED):
        write_durably(target, b"new")
    assert not os.path.lexists(temp_name(target))
    write_durably(target, b"new")
    assert (target.read_bytes(), victim.read_bytes()) == (b"new", b"precious")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_small_file_is_replaced_never_written_through(tmp_path: Path, kind: str) -> None:
    """replace_small replaces a symlink or a FIFO at the file's name (never writing through
    it nor blocking), and one at its temp name makes it fail and removes it."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    path, temp = tmp_path / ".daemon.lock", tmp_path / ".daemon.lock.1.tmp"
    _plant(path, kind, victim)
    replace_small(path, b"42\n", temp)
    assert (path.read_bytes(), victim.read_bytes()) == (b"42\n", b"precious")
    _plant(temp, kind, victim)
    with pytest.raises(OSError, match=_REFUSED):
        replace_small(path, b"43\n", temp)
    assert not os.path.lexists(temp)
    assert (path.read_bytes(), victim.read_bytes()) == (b"42\n", b"precious")


def _disk(
    blocks: int = 1000, free: int = 1000, files: int = 100, files_free: int = 100, flag: int = 0
) -> os.statvfs_result:
    """A statvfs answer of 4 KiB blocks."""
    return os.statvfs_result(
        (4096, 4096, blocks, free, free, files, files_free, files_free, flag, 255)
    )


def _gone(_folder: Path) -> os.statvfs_result:
    raise FileNotFoundError(2, "No such file or directory")


@pytest.mark.parametrize(
    ("disk", "room"),
    [
        (_disk(), None),
        (_disk(free=255), "1044480 bytes free"),
        (_disk(free=0), "0 bytes free"),
        (_disk(files_free=0), "no file can be made"),
        (_disk(files=0, files_free=0), None),  # btrfs: no inode count at all
        (_disk(flag=os.ST_RDONLY), "read-only"),  # squashfs, a remount ro
        (_disk(blocks=0, free=0, files=0, files_free=0), None),  # /proc, FUSE: no size
    ],
)
def test_no_room_says_why_a_disk_takes_no_file(disk: os.statvfs_result, room: str | None) -> None:
    """Full, out of inodes or read-only: said; a disk that reports no size: not full."""
    assert no_room(Path("/x"), 1024 * 1024, statvfs=lambda _: disk) == room
    assert no_room(Path("/x"), 1024 * 1024, statvfs=_gone) is None
