"""Tests for gating.archive.lock: one exclusive, re-entrant flock shared by writers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gating import ArchiveBusyError, FileLock, TrainingArchiveManager
from tests.conftest import make_summary


def test_a_second_holder_waits_then_gives_up(tmp_path: Path) -> None:
    """While one object holds the lock another cannot take it; after release it can."""
    first, second = FileLock(tmp_path / ".lock"), FileLock(tmp_path / ".lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    with pytest.raises(ArchiveBusyError, match="another writer held the lock"):
        second.acquire(timeout=0.05)
    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_lock_file_deleted_by_hand_does_not_let_a_second_writer_in(
    tmp_path: Path, how: str
) -> None:
    """The lock file deleted (or replaced) between two writes: the next writer locks the
    new file, and the first, at its next write, waits for it rather than go on beside it
    on the old file nobody else can see (both wrote at once)."""
    path = tmp_path / ".lock"
    first, second = FileLock(path), FileLock(path)
    assert first.try_acquire()
    first.release()
    path.unlink()
    if how == "replaced":
        path.write_bytes(b"")
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()


def test_a_locked_folder_is_one_lock(tmp_path: Path) -> None:
    """A folder is locked as it is (the service's single-instance lock)."""
    first, second = FileLock(tmp_path, what="another service"), FileLock(tmp_path)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.close()
    assert second.try_acquire()
    second.close()


def test_reentrant_within_one_object(tmp_path: Path) -> None:
    """The holder may take the lock again; the file lock goes only with the outermost release."""
    lock, other = FileLock(tmp_path / ".lock"), FileLock(tmp_path / ".lock")
    lock.acquire(timeout=1)
    lock.acquire(timeout=1)
    lock.release()
    assert lock.held
    assert not other.try_acquire()
    lock.release()
    assert not lock.held
    assert other.try_acquire()


def test_a_cancelled_wait_ends_at_once(tmp_path: Path) -> None:
    """A set event cuts a long wait for a busy lock short."""
    holder, waiter = FileLock(tmp_path / ".lock"), FileLock(tmp_path / ".lock")
    holder.acquire(timeout=1)
    cancelled = threading.Event()
    cancelled.set()
    started = time.monotonic()
    with pytest.raises(ArchiveBusyError):
        waiter.acquire(timeout=30, cancelled=cancelled)
    assert time.monotonic() - started < 5


_AS_NOBODY = """
import importlib, os, pkgutil, sys
import daemon, gating
for package in (gating, daemon):  # everything is imported before the rights are dropped
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
os.setgroups([65534])
os.setegid(65534)
os.seteuid(65534)
from daemon.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["runs"], "RUN_ID"),
        (["approved"], "SYM1"),
        (["deployable"], "SYM1: ann: fine"),
        (["audit"], "REVIEW -> APPROVED"),
        (["history", "SYM1"], "APPROVED by ann"),
        (["review"], "no models await review"),
    ],
)
def test_an_operator_who_may_only_read_the_archive_reads_it(command: list[str], shown: str) -> None:
    """A reader in the archive's group, with no write access, reads it while no service
    runs: no lock file opened for writing, no catalog file created."""
    with tempfile.TemporaryDirectory() as where:  # pytest's own folder is root's alone
        _read_as_nobody(Path(where), command, shown)


def _read_as_nobody(tmp_path: Path, command: list[str], shown: str) -> None:
    root = tmp_path / "training_archives"
    archive = TrainingArchiveManager(root)
    archive.archive_training_run(make_summary("a"))
    archive.decide("latest", "SYM1", "approve", by="ann", reason="fine")
    archive.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[archive]\ndir = "{root}"\n')
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chown(path, 0, 65534)
        os.chmod(path, 0o750 if path.is_dir() else 0o640)
    os.chmod(tmp_path, 0o755)
    before = sorted(p.name for p in root.iterdir())
    done = subprocess.run(
        [sys.executable, "-c", _AS_NOBODY, "--config", str(config), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert shown in done.stdout
    assert sorted(p.name for p in root.iterdir()) == before
