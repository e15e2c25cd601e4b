"""Helpers to drive the real `gatewatch run` process on a temporary folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from benchmarks.common import gatewatch_command
from tests.launcher import FAULT_VARIABLES

Event = dict[str, Any]


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def signal_storm(pid: int, signum: int, seconds: float = 1.0) -> None:
    """Send ``signum`` to ``pid`` as fast as another process can, for ``seconds`` (as
    `pkill -HUP` in a loop would); fails if the process is gone meanwhile."""
    sender = (
        f"import os, time\nend = time.monotonic() + {seconds}\n"
        f"while time.monotonic() < end:\n    os.kill({pid}, {int(signum)})\n"
    )
    subprocess.run([sys.executable, "-c", sender], timeout=seconds + 30, check=True)


class Daemon:
    """One `gatewatch run` process with its own config, watched folder and archive."""

    def __init__(self, root: Path, **settings: Any) -> None:
        self.root = root
        self.inbox = root / "in"
        self.archive = root / "archive"
        self.config_path = root / "config.toml"
        self.log_path = root / "daemon.log"
        self.err_path = root / "daemon.err"
        self.process: subprocess.Popen[bytes] | None = None
        watch = {"paths": ["in"], "settle_seconds": 0.5, **settings.pop("watch", {})}
        self.write_config({"watch": watch, "archive": {"dir": "archive"}, **settings})

    def write_config(self, document: dict[str, Any]) -> None:
        """Write the daemon's config.toml (JSON logs unless told otherwise)."""
        document = {"logging": {"format": "json", "level": "debug"}, **document}
        self.config_path.write_text(tomli_w.dumps(document), "utf-8")

    def start(
        self,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        *,
        implicit: bool = False,
        unprivileged: bool = False,
    ) -> Daemon:
        """Start the process; by default wait for its daemon_ready event. ``implicit``: in
        the root folder without --config (it reads ./config.toml); ``unprivileged``: without
        root's override of file modes (as the service's own user, a folder of mode 0 cannot
        be entered)."""
        ready_before = len(self.events("daemon_ready"))
        command = gatewatch_command()
        if env and any(name in env for name in FAULT_VARIABLES):
            command = [sys.executable, "-m", "tests.launcher"]  # arms the archive's faults
        if unprivileged and os.geteuid() == 0:
            command = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *command]
        named = [] if implicit else ["--config", str(self.config_path)]
        environment = {**os.environ, **(env or {})}
        environment.pop("GATEWATCH_CONFIG", None)
        with self.log_path.open("ab") as out, self.err_path.open("ab") as err:
            self.process = subprocess.Popen(
                [*command, "run", *named],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=environment,
                cwd=self.root if implicit else None,
            )
        if wait_ready:
            self.wait_for_event("daemon_ready", count=ready_before + 1, timeout=15)
        return self

    def events(self, name: str | None = None) -> list[Event]:
        """Every log line so far, parsed (each must be one JSON object)."""
        if not self.log_path.exists():
            return []
        data = self.log_path.read_bytes()  # read once: the daemon may be mid-line
        complete = data[: data.rfind(b"\n") + 1].decode("utf-8").splitlines()
        parsed = [json.loads(line) for line in complete]
        return [e for e in parsed if name is None or e["event"] == name]

    def wait_for_event(
        self, name: str, count: int = 1, timeout: float = 10, **match: Any
    ) -> list[Event]:
        """Wait until ``count`` events called ``name`` (with the given fields) were logged."""

        def found() -> list[Event]:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}: {self.tail()}")
            hits = [e for e in self.events(name) if all(e.get(k) == v for k, v in match.items())]
            return hits if len(hits) >= count else []

        try:
            return wait_until(found, timeout, f"{count} x {name} {match or ''}")  # type: ignore[no-any-return]
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.tail()}") from None

    def tail(self) -> str:
        """The last log lines and stderr, for failure messages."""
        log = self.log_path.read_text("utf-8") if self.log_path.exists() else ""
        err = self.err_path.read_text("utf-8") if self.err_path.exists() else ""
        return "log:\n" + "\n".join(log.splitlines()[-15:]) + "\nstderr:\n" + err[-2000:]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
        """Send a signal and wait for the exit; return (status, seconds taken)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signum)
        status = self.process.wait(timeout=timeout)
        return status, time.monotonic() - started

    def kill(self) -> None:
        """End the process hard if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def run_folders(self) -> list[Path]:
        """The published run folders."""
        if not self.archive.exists():
            return []
        return sorted(p for p in self.archive.iterdir() if p.name[:1].isdigit())

    def sources(self) -> list[str]:
        """The source path of every archived run, from the run folders."""
        return [
            json.loads((p / "model_assessments.json").read_text("utf-8"))["source"]
            for p in self.run_folders()
        ]
