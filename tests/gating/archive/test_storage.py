"""Tests for gating.archive.storage: the SQLite catalog is a Storage, method for method."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gating.archive.catalog import Catalog
from gating.archive.storage import ChampionIndex, RunIndex, Storage, VerdictIndex


def test_the_catalog_is_a_storage(tmp_path: Path) -> None:
    """mypy checks the assignment; an empty archive's catalog answers through the protocol."""
    storage: Storage = Catalog(tmp_path / "catalog.sqlite3")
    assert storage.latest() is None
    assert storage.champions() == {}
    assert storage.pending_count() == 0
    storage.close()


@pytest.mark.parametrize("protocol", [RunIndex, VerdictIndex, ChampionIndex, Storage])
def test_each_declared_method_has_the_catalogs_parameters(protocol: type) -> None:
    """Every method a protocol declares exists on Catalog with the same parameter names."""
    declared = [name for name in vars(protocol) if not name.startswith("_")]
    assert declared
    for name in declared:
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)
        assert list(inspect.signature(getattr(Catalog, name)).parameters) == wanted, name
