"""Tests for gating.archive.lock: one exclusive, re-entrant flock shared by writers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gating import ArchiveBusyError, FileLock


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
