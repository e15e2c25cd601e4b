"""Tests for gating.archive.catalog: indexed queries over runs and models."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from gating import ArchiveError
from gating.archive.catalog import Catalog, CatalogDamagedError
from tests.conftest import plant


def entry(n: int, symbols: list[str]) -> dict[str, Any]:
    """An index entry of run ``n`` with these symbols, in this order."""
    models: dict[str, Any] = {
        symbol: {"classification": "APPROVED" if i == 0 else "DROP", "flags": [],
                 "fitness": n / 10, "profit_factor": float("inf"), "consistency": None,
                 "max_drawdown": 0.1, "use_checkpoint": False, "best_idx": None,
                 "checkpoint_step": None}
        for i, symbol in enumerate(symbols)
    }  # fmt: skip
    return {"timestamp": f"2024010{n}T000000000000Z", "run_id": f"r{n}", "sha256": f"{n:064d}",
            "source": None, "approved": 1, "review": 0, "dropped": len(symbols) - 1,
            "models": models}  # fmt: skip


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    """A catalog of three runs."""
    made = Catalog(tmp_path / "catalog.sqlite3")
    made.add_runs([entry(1, ["A", "B"]), entry(2, ["B"]), entry(3, ["C", "A"])])
    return made


def test_queries(catalog: Catalog) -> None:
    """Latest, owners, run models in order, history with --last, symbols and counts."""
    assert catalog.latest() == "20240103T000000000000Z"
    assert catalog.owner_of(f"{2:064d}") == "20240102T000000000000Z"
    assert catalog.owner_of("0" * 63 + "9") is None
    assert catalog.run_models("20240103T000000000000Z") == [("C", "APPROVED"), ("A", "DROP")]
    history = [json.loads(record) for record in catalog.history("A")]
    assert [(h["run_id"], h["fitness"]) for h in history] == [("r1", 0.1), ("r3", 0.3)]
    assert [json.loads(r)["run_id"] for r in catalog.history("A", last=1)] == ["r3"]
    assert catalog.symbols() == ["A", "B", "C"]
    assert [row[2] for row in catalog.runs(last=2)] == ["r2", "r3"]
    assert catalog.counts() == (3, 0)
    assert catalog.known(["20240102T000000000000Z", "20240109T000000000000Z"]) == {
        "20240102T000000000000Z"
    }


def test_index_lines_are_the_entries(catalog: Catalog) -> None:
    """Each index.json line parses back to the entry the run was added with."""
    lines = [json.loads(line) for line in catalog.index_lines()]
    assert lines == [json.loads(json.dumps(entry(n, s))) for n, s in
                     [(1, ["A", "B"]), (2, ["B"]), (3, ["C", "A"])]]  # fmt: skip


def test_a_missing_archive_folder_answers_nothing(tmp_path: Path) -> None:
    """A catalog whose archive does not exist yet creates nothing and is empty."""
    catalog = Catalog(tmp_path / "none" / "catalog.sqlite3")
    assert catalog.latest() is None
    assert list(catalog.history("A")) == []
    assert not (tmp_path / "none").exists()


def test_a_file_that_is_not_a_database_is_damage(tmp_path: Path) -> None:
    """Garbage in place of the catalog raises CatalogDamagedError, not sqlite3's errors."""
    (tmp_path / "catalog.sqlite3").write_bytes(b"garbage" * 1000)
    with pytest.raises(CatalogDamagedError):
        Catalog(tmp_path / "catalog.sqlite3").check()


@pytest.mark.parametrize("page", [1, 2, 3, 1000])
def test_whole_listings_read_in_pages_are_whole(tmp_path: Path, page: int) -> None:
    """Runs, a history and the review queue read a page at a time list every row once,
    in order, whatever the page size (a run's models straddling a page included)."""
    catalog = Catalog(tmp_path / "catalog.sqlite3", durable=False)
    entries = [entry(n, ["A", "B", "C"]) for n in range(1, 6)]
    for one in entries:
        for model in one["models"].values():
            model["classification"] = "REVIEW"
    catalog.add_runs(entries)
    whole = Catalog(tmp_path / "catalog.sqlite3")
    catalog.page = page
    assert list(catalog.runs()) == list(whole.runs(last=10))
    assert list(catalog.history("B")) == list(whole.history("B", last=10))
    queue = [(item[0], item[2]) for item in catalog.pending()]
    assert queue == [(e["timestamp"], s) for e in reversed(entries) for s in ("A", "B", "C")]
    assert [(item[0], item[2]) for item in whole.pending(last=100)] == queue


def test_a_catalog_deleted_under_a_reader_is_damage_never_an_empty_one(tmp_path: Path) -> None:
    """The catalog deleted while a query reads it a page at a time, or between two
    queries: CatalogDamagedError (its writer rebuilds it), and no empty catalog is made
    in its place (SQLite made one: answered as no runs, or a listing cut at a page that
    looked whole)."""
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path, durable=False)
    catalog.add_runs([entry(n, ["A"]) for n in range(1, 5)])
    catalog.page = 2
    listing = catalog.runs()
    assert next(listing)[0] == entry(1, ["A"])["timestamp"]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(CatalogDamagedError, match="missing"):
        list(listing)
    with pytest.raises(CatalogDamagedError, match="missing"):
        catalog.latest()
    assert not path.exists()


@pytest.mark.parametrize("nothing_archived", [True, False])
def test_no_catalog_with_nothing_archived_is_an_empty_archive_and_no_file_is_made(
    tmp_path: Path, nothing_archived: bool
) -> None:
    """No catalog file and no run folder beside it: a query answers as an empty archive and
    makes no file (a folder named by mistake is left as it was), and a write makes the
    catalog; with run folders there, the missing file is damage, rebuilt from them."""
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path, durable=False, nothing_archived=lambda: nothing_archived)
    if nothing_archived:
        assert (catalog.latest(), list(catalog.runs())) == (None, [])
    else:
        with pytest.raises(CatalogDamagedError, match="missing"):
            catalog.latest()
    assert os.listdir(tmp_path) == []
    catalog.add_runs([entry(1, ["A"])])
    assert catalog.latest() == entry(1, ["A"])["timestamp"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chattr +i needs root")
def test_a_catalog_opened_while_it_could_not_be_written_is_written_once_it_can(
    tmp_path: Path,
) -> None:
    """Opened while immutable (as on a read-only mount), SQLite keeps the connection
    read-only: the write fails, and once the file can be written the next write
    succeeds (every later write failed as readonly until the service restarted)."""
    path = tmp_path / "catalog.sqlite3"
    Catalog(path, durable=False).add_runs([entry(1, ["A"])])
    if subprocess.run(["chattr", "+i", str(path)], check=False).returncode != 0:
        pytest.skip("this filesystem has no immutable flag")
    catalog = Catalog(path, durable=False)
    try:
        assert catalog.latest() == entry(1, ["A"])["timestamp"]
        with pytest.raises(ArchiveError, match="readonly"):
            catalog.add_runs([entry(2, ["A"])])
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    catalog.add_runs([entry(2, ["A"])])
    assert catalog.latest() == entry(2, ["A"])["timestamp"]


def test_a_wal_deleted_under_an_open_catalog_has_it_opened_anew(tmp_path: Path) -> None:
    """The WAL and shared memory deleted while a connection is open: the next look says
    the catalog was replaced (its writer recovers), never goes on in the deleted WAL
    (every other process read the file without it: two catalogs that never met again)."""
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path, durable=False)
    catalog.add_runs([entry(1, ["A"])])
    assert catalog.refresh() is False
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink()
    assert catalog.refresh() is True
    assert catalog.refresh() is False  # open on the file as it is now


def _open_files(path: Path) -> int:
    """How many of this process's file descriptors are the catalog's files."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(str(path))
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_connections_of_threads_that_ended_are_closed(tmp_path: Path) -> None:
    """Threads that come and go (a server's pool) each query on a connection of their
    own; once they have ended, the next thread to connect closes theirs (each was kept
    open: 20-40 files a burst of requests, until the process had none left)."""
    catalog = Catalog(tmp_path / "catalog.sqlite3", durable=False)
    catalog.add_runs([entry(n, ["A", "B"]) for n in range(1, 4)])
    opened = []
    for _ in range(20):
        threads = [threading.Thread(target=catalog.latest) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        opened.append(_open_files(catalog.path))
    # SQLite keeps a closed connection's file open for reuse while another holds a lock on
    # it, so a few stay: a few, however many threads came and went (100 here; it was 203).
    assert max(opened) <= 6 * 3, opened
    catalog.close()


def test_a_close_from_another_thread_lets_a_reading_thread_finish(tmp_path: Path) -> None:
    """close() called on one thread while another reads a listing a page at a time: the
    reader goes on (on the file opened anew) and gets every row (its connection was closed
    under it: CatalogDamagedError, which had the catalog rebuilt; mid-query, a crash)."""
    catalog = Catalog(tmp_path / "catalog.sqlite3", durable=False)
    catalog.add_runs([entry(n, ["A"]) for n in range(1, 11)])
    catalog.page = 2
    listing = catalog.runs()
    first = [next(listing), next(listing), next(listing)]
    closer = threading.Thread(target=catalog.close)
    closer.start()
    closer.join()
    listed = [row[0] for row in [*first, *listing]]
    assert listed == sorted(entry(n, ["A"])["timestamp"] for n in range(1, 11))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_running_out_of_files_is_not_damage(tmp_path: Path) -> None:
    """With no file left to open, a thread's first query fails as ArchiveError, not
    CatalogDamagedError (which had the catalog deleted and rebuilt: minutes at a million
    runs), and the catalog answers again once files are free."""
    catalog = Catalog(tmp_path / "catalog.sqlite3", durable=False)
    catalog.add_runs([entry(n, ["A"]) for n in range(1, 4)])
    failed: list[Exception] = []

    def query() -> None:
        try:
            catalog.latest()
        except ArchiveError as error:
            failed.append(error)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
        with contextlib.suppress(OSError):
            while len(held) < 100:
                held.append(os.open(os.devnull, os.O_RDONLY))
        thread = threading.Thread(target=query)
        thread.start()
        thread.join()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(failed) == 1
    assert not isinstance(failed[0], CatalogDamagedError)
    assert "too many open files" in str(failed[0])
    again = threading.Thread(target=query)
    again.start()
    again.join()
    assert len(failed) == 1
    assert catalog.latest() == entry(3, ["A"])["timestamp"]


@pytest.mark.parametrize("kind", ["file", "folder", "fifo", "symlink"])
def test_a_wal_without_its_catalog_is_damage_and_never_opened(tmp_path: Path, kind: str) -> None:
    """Something at the WAL's name with no catalog beside it (deleted under open
    connections, or planted) is damage naming it; a new catalog never takes it in, nor
    is it opened or written through (a FIFO would block, a symlink lead elsewhere)."""
    path, victim = tmp_path / "catalog.sqlite3", tmp_path / "victim"
    victim.write_bytes(b"not ours")
    wal = tmp_path / "catalog.sqlite3-wal"
    plant(wal, kind, victim)
    with pytest.raises(CatalogDamagedError, match=f"missing, but {wal} is there"):
        Catalog(path).check()
    assert not path.exists()
    assert victim.read_bytes() == b"not ours"
