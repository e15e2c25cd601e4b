"""Fixtures for the dashboard's tests: an archive with every class and hostile text."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from daemon.config import Config, parse_config
from daemon.web.app import create_app
from gating import TrainingArchiveManager
from gating.shared.archive import SharedArchive

HOSTILE = "<script>alert(1)</script>"
HOSTILE_SOURCE = "/in/<img src=x onerror=alert(2)>_summary.json"
TOKEN = "s3cret-token-for-tests"
ORIGIN = "http://127.0.0.1:8470"


def build_archive(archive: Path | TrainingArchiveManager) -> TrainingArchiveManager:
    """Three runs: BTC/USD APPROVED then REVIEW, AAPL REVIEW, a DROP, a hostile run id
    (into a new folder archive at ``archive``, or into the archive given)."""
    manager = (
        archive if isinstance(archive, TrainingArchiveManager) else TrainingArchiveManager(archive)
    )
    manager.archive_training_run(
        {
            "run_id": "first-run",
            "validation_interval": 1000,
            "models": {
                "BTC/USD": {
                    "fitness": 0.8,
                    "pf": 2.1,
                    "consistency": 0.9,
                    "max_dd": 0.05,
                    "history": [0.5, 0.7, 0.85, 0.8],
                },
                "AAPL": {"fitness": 0.62, "pf": 1.5, "consistency": 0.8, "max_dd": 0.1},
            },
        },
        source="/in/first_summary.json",
    )
    manager.archive_training_run(
        {
            "run_id": HOSTILE,
            "validation_interval": 1000,
            "models": {
                "BTC/USD": {
                    "fitness": 0.66,
                    "pf": math.inf,
                    "consistency": 0.88,
                    "max_dd": 0.07,
                    "history": [0.5, None, 0.7, math.nan, 0.66],
                },
                HOSTILE: {"fitness": 0.3, "pf": 1.0, "consistency": 0.5, "max_dd": 0.2},
                "MSFT": {"fitness": None, "pf": 1.9, "consistency": 0.9, "max_dd": 0.05},
            },
        },
        source=HOSTILE_SOURCE,
    )
    return manager


@pytest.fixture(params=["folder", "shared"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrainingArchiveManager]:
    """A small archive with every class, a gap, an infinite PF and hostile text: a folder,
    and (the same runs) a shared database. Tests of the folder's files run on the first."""
    if request.param == "folder":
        yield build_archive(tmp_path / "archive")
        return
    if request.node.get_closest_marker("folder_only") is not None:
        pytest.skip("about the folder archive's own files")
    (tmp_path / "archive").mkdir()  # this host's folder: status.json, the service's lock
    made = SharedArchive(request.getfixturevalue("pg_url"), archive_dir=tmp_path / "archive")
    yield build_archive(made)
    made.close()


@pytest.fixture
def config(tmp_path: Path, archive: TrainingArchiveManager) -> Config:
    """A config whose archive is the fixture's (its database, in shared mode)."""
    table: dict[str, object] = {"dir": str(archive.archive_dir)}
    if isinstance(archive, SharedArchive):
        table["url"] = archive.database.url
    return parse_config({"archive": table}, tmp_path)


@pytest.fixture
def client(config: Config) -> Iterator[TestClient]:
    """The read-only dashboard (no token)."""
    with TestClient(create_app(config), base_url=ORIGIN) as test_client:
        yield test_client


@pytest.fixture
def writer(config: Config) -> Iterator[TestClient]:
    """The dashboard with a write token."""
    with TestClient(create_app(config, TOKEN), base_url=ORIGIN) as test_client:
        yield test_client


def url_of(archive: TrainingArchiveManager) -> str:
    """The database of a shared archive ("" for a folder)."""
    return archive.database.url if isinstance(archive, SharedArchive) else ""
