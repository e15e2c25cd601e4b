"""Tests for gating.archive.fresh_file: fresh catalog files held while they live."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from gating import ArchiveError
from gating.archive import catalog_schema, fresh_file
from gating.archive.catalog import Catalog
from gating.archive.catalog_schema import SCHEMA_VERSION
from gating.archive.layout import FRESH_PREFIX, Layout
from gating.archive.maintenance import clear_litter


def _is_wal_with_tables(path: Path) -> bool:
    """Whether the file at ``path`` is a catalog in WAL mode with this version's tables."""
    header = path.read_bytes()[:20]
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    finally:
        connection.close()
    return header[18:20] == b"\x02\x02" and version == SCHEMA_VERSION


def test_a_new_catalog_has_its_tables_and_wal_before_it_has_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer's new catalog is made whole under a fresh name: no reader can open it half
    made (and switch it to WAL at the same time as the writer: SQLITE_BUSY at once)."""
    path = tmp_path / "catalog.sqlite3"
    named_while_made = []
    create = catalog_schema.create

    def watched(connection: sqlite3.Connection) -> None:
        if connection.execute("PRAGMA database_list").fetchone()[2]:  # a file, not memory
            named_while_made.append(path.exists())
        create(connection)

    monkeypatch.setattr(catalog_schema, "create", watched)
    Catalog(path).check()
    assert named_while_made == [False]
    assert _is_wal_with_tables(path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(FRESH_PREFIX)]


def test_a_catalog_another_writer_made_first_is_kept(tmp_path: Path) -> None:
    """make_new finding a catalog in place (another writer's) keeps it and leaves no litter."""
    path = tmp_path / "catalog.sqlite3"
    fresh_file.make_new(path)
    first = path.stat().st_ino
    fresh_file.make_new(path)
    assert path.stat().st_ino == first
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.sqlite3"]


def test_a_filesystem_without_hard_links_gets_the_catalog_by_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a hard link is refused (vfat, some FUSE), the fresh file is renamed instead."""

    def refused(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)
    path = tmp_path / "catalog.sqlite3"
    fresh_file.make_new(path)
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.sqlite3"]
    assert _is_wal_with_tables(path)


def test_no_room_for_a_fresh_file_is_one_archive_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that takes no new file fails the catalog's making in one line, naming it."""

    def full(_folder: Path) -> tuple[Path, int]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fresh_file, "claim", full)
    path = tmp_path / "catalog.sqlite3"
    with pytest.raises(ArchiveError, match="cannot make the catalog: No space left on device"):
        fresh_file.make_new(path)
    assert not path.exists()


def test_a_fresh_file_is_being_built_while_it_is_claimed(tmp_path: Path) -> None:
    """Recovery leaves a claimed fresh file alone, and sweeps it once its claim is let go."""
    path, guard = fresh_file.claim(tmp_path)
    try:
        assert path.name.startswith(FRESH_PREFIX)
        assert fresh_file.being_built(str(path))
    finally:
        os.close(guard)
    assert not fresh_file.being_built(str(path))


@pytest.mark.timeout(60)
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_nearly_full_disk_makes_a_whole_catalog_or_none(tmp_path: Path) -> None:
    """With less and less room left, each try makes a whole catalog or fails in one line
    leaving nothing (a torn file got the catalog's name, and its WAL stayed as litter)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], check=True)
    try:
        filler = disk / "filler"
        for room in range(320_000, 0, -16_384):
            filler.unlink(missing_ok=True)
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            filler.write_bytes(b"x" * max(0, free - room))
            path = disk / "catalog.sqlite3"
            try:
                fresh_file.make_new(path)
            except ArchiveError as error:
                assert "cannot make the catalog" in str(error)
                assert sorted(p.name for p in disk.iterdir()) == ["filler"]
                continue
            assert sorted(p.name for p in disk.iterdir()) == ["catalog.sqlite3", "filler"]
            filler.unlink()  # room for the read's shared memory
            assert _is_wal_with_tables(path)
            for name in ("catalog.sqlite3", *(f"catalog.sqlite3{s}" for s in fresh_file.SIDECARS)):
                (disk / name).unlink(missing_ok=True)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_what_sqlite_left_beside_a_fresh_file_is_swept_once_nobody_holds_it(
    tmp_path: Path,
) -> None:
    """A fresh file's journal, WAL and shared memory left by a builder killed mid-way are
    litter (they stayed for good); those of a file still held are left alone."""
    layout = Layout(tmp_path)
    held, guard = fresh_file.claim(tmp_path)
    dead = tmp_path / f"{FRESH_PREFIX}1-1.tmp"
    try:
        for base in (held, dead):
            for suffix in fresh_file.SIDECARS:
                Path(f"{base}{suffix}").write_bytes(b"x")
        clear_litter(layout)
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == sorted([held.name, *(f"{held.name}{s}" for s in fresh_file.SIDECARS)])
    finally:
        os.close(guard)


def test_a_fresh_name_linked_to_the_live_catalog_is_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh name still linked to the live catalog (a crash after the link) is not being
    built, and is never opened to see: closing that descriptor would drop this process's
    SQLite locks on the live catalog."""
    path = tmp_path / "catalog.sqlite3"
    fresh_file.make_new(path)
    fresh = tmp_path / f"{FRESH_PREFIX}1-1.tmp"
    os.link(path, fresh)
    opened: list[str] = []
    real_open = os.open

    def watched(name: str, *args: int) -> int:
        opened.append(str(name))
        return real_open(name, *args)

    monkeypatch.setattr(os, "open", watched)
    assert not fresh_file.being_built(str(fresh))
    assert opened == []


def test_a_link_failing_for_another_reason_is_one_archive_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a filesystem without hard links falls back to a rename; a full disk or an I/O
    error is one line, nothing named the catalog, no fresh file left."""

    def failing(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "link", failing)
    path = tmp_path / "catalog.sqlite3"
    with pytest.raises(ArchiveError, match="cannot make the catalog: Input/output error"):
        fresh_file.make_new(path)
    assert list(tmp_path.iterdir()) == []
