"""Fixtures of the shared mode's tests (the cluster and a database a test: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gating.shared.archive import SharedArchive
from tests.conftest import TEMPLATE

__all__ = ["TEMPLATE"]


@pytest.fixture
def shared(pg_url: str) -> Iterator[SharedArchive]:
    """A SharedArchive over this test's database."""
    archive = SharedArchive(pg_url, retry_seconds=20)
    yield archive
    archive.close()
