"""Runs sent from anywhere: the real `gatewatch push` and `gating.push` against the real
`gatewatch serve`, with the server down first and up later (SPEC 13)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from benchmarks.common import gatewatch_command
from gating import PushRefusedError, Spool, TrainingArchiveManager, push
from tests.conftest import make_summary
from tests.web.served import free_port, serving, write_config

pytestmark = pytest.mark.timeout(120)

SUBMIT_ENV = "GATEWATCH_TEST_SUBMIT_TOKEN"
SUBMIT = "submit-token-of-the-e2e-tests"


def run_push(*args: str, spool: Path, token: str = SUBMIT) -> subprocess.CompletedProcess[str]:
    """`gatewatch push ARGS` with the submit token in $GATEWATCH_SUBMIT_TOKEN."""
    env = {**os.environ, "GATEWATCH_SUBMIT_TOKEN": token}
    return subprocess.run(
        [*gatewatch_command(), "push", *args, "--spool-dir", str(spool)],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip


def test_push_while_the_server_is_down_then_up_archives_each_run_once(tmp_path: Path) -> None:
    """Down: every file is spooled (exit 0, a line each); up: `push --spool` archives them,
    and pushing the same files again gives duplicates, never a second run."""
    files = []
    for name in ("gpu1", "gpu2", "colab"):
        path = tmp_path / f"{name}_summary.json"
        path.write_text(json.dumps(make_summary(name)), "utf-8")
        files.append(str(path))
    spool = tmp_path / "spool"
    port = free_port()
    down = run_push(*files, "--to", f"http://127.0.0.1:{port}", spool=spool)
    assert down.returncode == 0, down.stderr
    assert down.stderr.count("spooled") == 3
    assert len(Spool(spool).entries()) == 3
    archive = tmp_path / "archive"
    config = write_config(tmp_path, archive, submit_token_env=SUBMIT_ENV)
    with serving(config, port=port, extra_env={SUBMIT_ENV: SUBMIT}):
        up = run_push("--spool", "--json", spool=spool)
        assert up.returncode == 0, up.stderr
        assert [r["outcome"] for r in json.loads(up.stdout)] == ["archived"] * 3
        assert Spool(spool).entries() == []
        again = run_push(*files, "--to", f"http://127.0.0.1:{port}", "--json", spool=spool)
        assert [r["outcome"] for r in json.loads(again.stdout)] == ["duplicate"] * 3
        wrong = run_push(files[0], "--to", f"http://127.0.0.1:{port}", spool=spool, token="x" * 20)
        assert wrong.returncode == 2
        assert len(wrong.stderr.strip().splitlines()) == 1
        assert "submit token" in wrong.stderr
    with TrainingArchiveManager(archive) as manager:
        listed = manager.list_runs()
    assert sorted(r["run_id"] for r in listed) == ["colab", "gpu1", "gpu2"]
    assert [r["source"] for r in listed] == [f"{socket.gethostname()}:{f}" for f in files]
    # The server's log says so as the service's does for a file (it held access lines only).
    lines = config.with_suffix(".log").read_text("utf-8").splitlines()
    said = [json.loads(line) for line in lines if line.startswith("{")]
    outcomes = [(line["event"], line["source"]) for line in said if "source" in line]
    sent = [f"{socket.gethostname()}:{f}" for f in files]
    told = [("run_archived", f) for f in sent] + [("duplicate_skipped", f) for f in sent]
    assert outcomes == told


def test_push_spool_to_sends_what_waits_for_a_dead_server_to_another(tmp_path: Path) -> None:
    """Summaries spooled for a server that moved go to the one `push --spool --to` names."""
    spool, dead, port = tmp_path / "spool", free_port(), free_port()
    for name in ("gpu1", "gpu2"):
        push(make_summary(name), url=f"http://127.0.0.1:{dead}", token=SUBMIT, spool=spool)
    assert len(Spool(spool).entries()) == 2
    archive = tmp_path / "archive"
    config = write_config(tmp_path, archive, submit_token_env=SUBMIT_ENV)
    with serving(config, port=port, extra_env={SUBMIT_ENV: SUBMIT}):
        moved = run_push("--spool", "--to", f"http://127.0.0.1:{port}", "--json", spool=spool)
    assert moved.returncode == 0, moved.stderr
    assert [r["outcome"] for r in json.loads(moved.stdout)] == ["archived"] * 2
    assert Spool(spool).entries() == []
    with TrainingArchiveManager(archive) as manager:
        assert [r["run_id"] for r in manager.list_runs()] == ["gpu1", "gpu2"]


def test_push_spool_to_a_dead_server_keeps_the_spool_from_the_one_it_was_kept_for(
    tmp_path: Path,
) -> None:
    """`push --spool --to B FILE` with B down: the spool waits for B (it went to the
    server each entry was kept for); a name in another script is sent as it is written
    (it failed to encode, was spooled as unreachable, and held every later push back)."""
    spool, port, dead = tmp_path / "spool", free_port(), free_port()
    named = tmp_path / "模型_summary.json"
    named.write_text(json.dumps(make_summary("unicode")), "utf-8")
    push(make_summary("kept"), url=f"http://127.0.0.1:{port}", token=SUBMIT, spool=spool)
    archive = tmp_path / "archive"
    config = write_config(tmp_path, archive, submit_token_env=SUBMIT_ENV)
    with serving(config, port=port, extra_env={SUBMIT_ENV: SUBMIT}):
        other = tmp_path / "other_summary.json"
        other.write_text(json.dumps(make_summary("other")), "utf-8")
        away = run_push("--spool", "--to", f"http://127.0.0.1:{dead}", str(other), spool=spool)
        assert away.returncode == 0, away.stderr
        assert len(Spool(spool).entries()) == 2
        with TrainingArchiveManager(archive) as manager:
            assert manager.list_runs() == []
        typo = run_push(str(named), "--to", f"127.0.0.1:{port}", spool=spool)
        assert typo.returncode == 2
        assert typo.stderr.count("\n") == 1
        assert "is not a server's URL" in typo.stderr
        back = run_push("--spool", "--to", f"http://127.0.0.1:{port}", str(named), spool=spool)
        assert back.returncode == 0, back.stderr
    with TrainingArchiveManager(archive) as manager:
        listed = manager.list_runs()
    assert [r["run_id"] for r in listed] == ["kept", "other", "unicode"]
    assert listed[-1]["source"] == f"{socket.gethostname()}:{named}"


def test_a_url_that_reaches_no_gatewatch_server_is_refused_not_spooled(tmp_path: Path) -> None:
    """A path the server does not have (a 404) and https to a plain-http server are one
    line and exit 2, nothing spooled (each was spooled as "cannot be reached", and held
    every later push back)."""
    spool, port = tmp_path / "spool", free_port()
    summary = tmp_path / "a_summary.json"
    summary.write_text(json.dumps(make_summary("a")), "utf-8")
    config = write_config(tmp_path, tmp_path / "archive", submit_token_env=SUBMIT_ENV)
    with serving(config, port=port, extra_env={SUBMIT_ENV: SUBMIT}):
        for wrong, says in [
            (f"http://127.0.0.1:{port}/runs", "is it a gatewatch server's URL?"),
            (f"https://127.0.0.1:{port}", f"https://127.0.0.1:{port}/api/runs: "),
        ]:
            refused = run_push(str(summary), "--to", wrong, spool=spool)
            assert refused.returncode == 2, refused.stderr
            assert refused.stderr.count("\n") == 1
            assert says in refused.stderr
            assert Spool(spool).entries() == []
        # An entry kept for a URL that turned into no gatewatch server is set aside, and
        # the summary pushed now goes through (every later push failed on it).
        Spool(spool).keep(b"{}", f"http://127.0.0.1:{port}/gone", "old")
        later = run_push(str(summary), "--to", f"http://127.0.0.1:{port}", spool=spool)
        assert later.returncode == 1, later.stderr  # the entry set aside: said, exit 1
        assert "archived" in later.stdout
        assert "set aside" in later.stderr
        assert Spool(spool).entries() == []


def test_the_library_call_spools_then_sends_in_order(tmp_path: Path) -> None:
    """`gating.push` from a notebook: spooled while down, sent first at the next call (with
    a token read from a file, its newline and all)."""
    spool = tmp_path / "spool"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = push(make_summary("early"), url=url, token=SUBMIT, spool=spool, timeout=5)
    assert first.outcome == "spooled"
    assert "cannot be reached" in str(first.reason)
    with pytest.raises(PushRefusedError, match="no submit token"):
        push(make_summary("x"), url=url, token="", spool=spool)
    archive = tmp_path / "archive"
    config = write_config(tmp_path, archive, submit_token_env=SUBMIT_ENV)
    with serving(config, port=port, extra_env={SUBMIT_ENV: SUBMIT}):
        # The newline a token file ends with (CRLF too) is dropped, not sent or refused.
        token_file = SUBMIT + "\r\n"
        later = push(make_summary("late"), url=url, token=token_file, spool=spool, source="nb")
        assert later.outcome == "archived"
        rejected = push(b'{"models": 1}', url=url, token=SUBMIT, spool=spool)
        assert rejected.outcome == "rejected"
        assert rejected.reason
    assert Spool(spool).entries() == []
    with TrainingArchiveManager(archive) as manager:
        assert [r["run_id"] for r in manager.list_runs()] == ["early", "late"]
