"""Fixtures of the shared mode's tests: one PostgreSQL cluster per session, and for each
test its own database, a copy of a template that already has gatewatch's schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gating.shared.archive import SharedArchive, upgrade
from tests.pg import Cluster

TEMPLATE = "gw_template"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A private PostgreSQL cluster, destroyed at the end of the session."""
    made = Cluster().init()
    template = made.create_database()
    upgrade(template)
    name = template.rsplit("/", 1)[1]
    import psycopg

    with psycopg.connect(made.url(), autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE {name} RENAME TO {TEMPLATE}")
    try:
        yield made
    finally:
        made.destroy()


@pytest.fixture
def pg_url(cluster: Cluster) -> str:
    """A fresh database with gatewatch's schema, for this test alone."""
    return cluster.create_database(TEMPLATE)


@pytest.fixture
def shared(pg_url: str) -> Iterator[SharedArchive]:
    """A SharedArchive over this test's database."""
    archive = SharedArchive(pg_url, retry_seconds=20)
    yield archive
    archive.close()
