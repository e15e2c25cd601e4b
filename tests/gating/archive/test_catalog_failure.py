"""Tests for gating.archive.catalog_failure: which SQLite errors are damage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gating import ArchiveError
from gating.archive.catalog_failure import CatalogDamagedError, failure


@pytest.mark.parametrize(
    ("kind", "name", "damage"),
    [
        (sqlite3.OperationalError, "SQLITE_FULL", False),
        (sqlite3.OperationalError, "SQLITE_IOERR_SHMSIZE", False),
        (sqlite3.OperationalError, "SQLITE_IOERR_SHORT_READ", True),  # a WAL deleted in use
        (sqlite3.OperationalError, "SQLITE_BUSY", False),
        (sqlite3.OperationalError, "SQLITE_NOMEM", False),
        (sqlite3.DatabaseError, "SQLITE_CORRUPT", True),
        (sqlite3.DatabaseError, "SQLITE_NOTADB", True),
        (sqlite3.OperationalError, "SQLITE_ERROR", True),  # "no such table": damage
    ],
)
def test_only_a_failure_of_the_file_itself_is_damage(
    tmp_path: Path, kind: type[sqlite3.DatabaseError], name: str, damage: bool
) -> None:
    """A full or failing disk, a lock or no memory leaves the catalog alone (ArchiveError);
    a corrupt file or a missing table has it rebuilt (CatalogDamagedError)."""
    error = kind("what SQLite said")
    error.sqlite_errorname = name  # as sqlite3 sets it
    found = failure(tmp_path / "catalog.sqlite3", error)
    assert isinstance(found, ArchiveError)
    assert isinstance(found, CatalogDamagedError) is damage
