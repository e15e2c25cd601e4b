"""Start the real `gatewatch serve` process on a free port and wait until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import gatewatch_command
from tests.process import wait_until

TOKEN_ENV = "GATEWATCH_TEST_WEB_TOKEN"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    """Whether anything answers HTTP at ``url`` (an error status too)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered (503 while no service runs)
    except OSError:
        return False


def write_config(
    folder: Path, archive: Path, token_env: str = "", submit_token_env: str = "", url: str = ""
) -> Path:
    """A config.toml for the dashboard over ``archive`` (the database ``url`` when given)."""
    path = folder / "web-config.toml"
    path.write_text(
        f'[archive]\ndir = "{archive}"\nurl = "{url}"\n[serve]\ntoken_env = "{token_env}"\n'
        f'submit_token_env = "{submit_token_env}"\n[logging]\nformat = "json"\n',
        "utf-8",
    )
    return path


@contextmanager
def serve_process(
    config: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`gatewatch serve --config CONFIG ARGS...`, its output in ``log``, as a test drives
    it (signals, its exit status); killed at the end if it still runs."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*gatewatch_command(), "serve", "--config", str(config), *args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@contextmanager
def serving(
    config: Path,
    token: str | None = None,
    log: Path | None = None,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run `gatewatch serve` (with the token in its environment, on ``port`` or a free
    one); yield its base URL."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    env.update(extra_env or {})
    log = log or config.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*gatewatch_command(), "serve", "--config", str(config), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode}: {log.read_text()}")
            return answers(base + "/health")

        wait_until(up, 20, "gatewatch serve to answer")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
