"""Shared test helpers: summary builders and the daemon process fixture."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gating.shared.archive import upgrade
from tests.pg import Cluster
from tests.process import Daemon


def make_model(
    fitness: float | None = 0.75,
    pf: float | None = 1.9,
    consistency: float | None = 0.88,
    max_dd: float | None = 0.06,
    history: list[float | None] | None = None,
) -> dict[str, Any]:
    """One model's metrics in canonical form."""
    model: dict[str, Any] = {
        "fitness": fitness,
        "profit_factor": pf,
        "consistency": consistency,
        "max_drawdown": max_dd,
    }
    if history is not None:
        model["fitness_history"] = history
    return model


def make_summary(run_id: str = "run-a", symbols: int = 3, **extra: Any) -> dict[str, Any]:
    """A valid summary dict with ``symbols`` models of mixed quality."""
    grades = [
        make_model(),
        make_model(0.6, 1.5, 0.7, 0.1, [0.5, 0.55, 0.6]),
        make_model(0.3, 1.0, 0.5, 0.2, [0.4, 0.3]),
    ]
    models = {f"SYM{i}": grades[i % 3] for i in range(symbols)}
    return {"run_id": run_id, "validation_interval": 1000, "models": models, **extra}


def summary_bytes(run_id: str = "run-a", symbols: int = 3) -> bytes:
    """A valid summary as the bytes a training job would write."""
    return json.dumps(make_summary(run_id, symbols)).encode()


def plant(path: Path, kind: str, victim: Path) -> None:
    """Something hostile at ``path``: a "file" of 4 KiB, a "folder", a "fifo", or else a
    symlink to ``victim``."""
    if kind == "file":
        path.write_bytes(b"x" * 4096)
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(victim)


def nest_past_path_max(folder: Path, file: str | None = None) -> None:
    """22 folders of 200 characters, one in another, in ``folder`` (and ``file``, empty, in
    the deepest): their path is past PATH_MAX (4,096 bytes), so they are made through
    descriptors."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(22):
        os.mkdir("d" * 200, dir_fd=fd)
        deeper = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    if file is not None:
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)


@pytest.fixture
def summary() -> dict[str, Any]:
    """A valid three-model summary."""
    return make_summary()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Make daemons on folders under tmp_path; each is killed at the end if still running."""
    made: list[Daemon] = []

    def make(name: str = "d", **settings: Any) -> Daemon:
        root = tmp_path / name
        (root / "in").mkdir(parents=True)
        daemon = Daemon(root, **settings)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.kill()


# --- shared mode: one PostgreSQL cluster per session, a database per test ------------------

TEMPLATE = "gw_template"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A private PostgreSQL cluster (started on first use), destroyed at the end."""
    made = Cluster().init()
    template = made.create_database()
    upgrade(template)
    with psycopg.connect(made.url(), autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE {template.rsplit('/', 1)[1]} RENAME TO {TEMPLATE}")
    try:
        yield made
    finally:
        made.destroy()


@pytest.fixture
def pg_url(cluster: Cluster) -> str:
    """A fresh database with gatewatch's schema, for this test alone."""
    return cluster.create_database(TEMPLATE)


def with_url(config_text: str, url: str) -> str:
    """``config_text`` (the default config) with its archive in the database at ``url``."""
    commented = '# url = "postgresql://gatewatch@db-host:5432/gatewatch"'
    assert commented in config_text
    return config_text.replace(commented, f'url = "{url}"')
