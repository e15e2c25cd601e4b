"""A throwaway PostgreSQL cluster for the shared mode's tests, one database per test.

The cluster is Debian's server binaries run as the ``postgres`` user (``initdb`` refuses
root) on a private port and socket folder; ``pg_ctl`` always gets ``-l`` (a log file),
without which a restart can hang on the output pipe. Each test's database is a copy of a
template that already has gatewatch's schema.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.web.served import free_port

__all__ = ["Cluster"]

_DATABASES = itertools.count(1)


def _bindir() -> Path:
    """The newest installed PostgreSQL's bin folder."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed (apt-get install postgresql)")
    return Path(found[-1]).parent


class Cluster:
    """One private cluster: started, restarted, stopped; databases made from a template."""

    def __init__(self) -> None:
        self.bin = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="gatewatch-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> Cluster:
        """initdb (trust on loopback: a test cluster), then start."""
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        return self.start()

    def start(self) -> Cluster:
        """pg_ctl start, waiting until it accepts connections. ``fsync=off`` is safe for a
        test (no power cut here); ``synchronous_commit`` stays on: an acknowledged commit
        must survive ``pg_ctl stop -m immediate``, as it does in production."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
            "-o", options, "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m MODE (fast, immediate)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-m", mode, "stop")  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        """A connection URL for ``database`` (no password: the cluster trusts loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (a copy of ``template`` when given); its URL."""
        name = f"gw_{os.getpid()}_{next(_DATABASES)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            suffix = f" TEMPLATE {template}" if template else ""
            connection.execute(f"CREATE DATABASE {name}{suffix}")
        return self.url(name)

    def destroy(self) -> None:
        """Stop the cluster (immediately) and delete its files."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
