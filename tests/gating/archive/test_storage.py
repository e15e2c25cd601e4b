"""Tests for gating.archive.storage: today's catalog and group commit implement the seams."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gating.archive.catalog import Catalog
from gating.archive.group_commit import GroupCommitter
from gating.archive.layout import Layout
from gating.archive.recovery import DamageLog
from gating.archive.storage import ChampionIndex, GroupCommit, RunIndex, Storage, VerdictIndex


def test_the_catalog_is_a_storage(tmp_path: Path) -> None:
    """mypy checks the assignment; an empty archive's catalog (made by its writer's check)
    answers through the protocol."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.check()
    storage: Storage = catalog
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


def test_the_group_committer_is_a_group_commit(tmp_path: Path) -> None:
    """mypy checks the assignment; its stamps increase, and its signature is the protocol's."""
    layout = Layout(tmp_path / "a")
    catalog = Catalog(layout.catalog)
    group: GroupCommit = GroupCommitter(layout, catalog, DamageLog())
    first, second = group.stamp(), group.stamp()
    assert first < second
    for name in ("commit", "stamp"):
        wanted = inspect.signature(getattr(GroupCommit, name)).parameters
        assert list(inspect.signature(getattr(GroupCommitter, name)).parameters) == list(wanted)
    catalog.close()
