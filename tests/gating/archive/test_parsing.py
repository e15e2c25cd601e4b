"""Tests for gating.archive.parsing: records asked of the disk ahead of their turn (the
parsing processes themselves are tested through reindex in test_rebuild.py)."""

from __future__ import annotations

import pytest

from gating.archive import parsing


@pytest.mark.parametrize("count", [0, 1, parsing._READ_AHEAD, parsing._READ_AHEAD + 1, 100])
def test_each_record_is_asked_of_the_disk_read_ahead_names_before_its_turn(count: int) -> None:
    """Every name comes back in order, its record advised once and _READ_AHEAD names early."""
    names = [f"{i:03d}" for i in range(count)]
    advised: list[str] = []
    for position, name in enumerate(parsing._read_ahead(names, advised.append)):
        assert name == names[position]
        assert advised == names[: position + parsing._READ_AHEAD + 1]
    assert advised == names
