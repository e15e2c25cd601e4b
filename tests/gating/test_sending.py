"""Tests for gating.sending: the spool keeps each summary once, durably, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gating.sending import PushResult, Spool, default_spool
from tests.web.served import free_port

URL = "http://127.0.0.1:9"


def test_the_same_bytes_for_the_same_server_are_kept_once(tmp_path: Path) -> None:
    """Keeping twice gives one entry; another server or other bytes another, oldest first."""
    spool = Spool(tmp_path / "spool")
    first = spool.keep(b"{}", URL, "a")
    assert spool.keep(b"{}", URL + "/", "a") == first
    second = spool.keep(b"{}", "http://other:8470", "a")
    third = spool.keep(b'{"x": 1}', URL, "b")
    assert spool.entries() == [first, second, third]
    assert json.loads(third.read_text("utf-8"))["source"] == "b"


def test_an_unreachable_server_leaves_every_entry(tmp_path: Path) -> None:
    """send stops at the first entry whose server cannot be reached and removes nothing."""
    spool = Spool(tmp_path / "spool")
    url = f"http://127.0.0.1:{free_port()}"
    kept = [spool.keep(f'{{"n": {i}}}'.encode(), url, f"s{i}") for i in range(3)]
    assert spool.send("a-token-long-enough", timeout=5) == ([], 3)
    assert spool.entries() == kept


def test_a_damaged_entry_is_set_aside(tmp_path: Path) -> None:
    """An entry that is not one of ours is renamed *.damaged and the rest go on."""
    spool = Spool(tmp_path / "spool")
    spool.folder.mkdir()
    (spool.folder / "00000000000000000001-bad.json").write_text("{not json", "utf-8")
    assert spool.send("a-token-long-enough", timeout=5) == ([], 0)
    assert [p.name for p in spool.folder.iterdir()] == ["00000000000000000001-bad.damaged"]


def test_the_default_spool_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$XDG_CACHE_HOME/gatewatch/spool when set."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_spool() == tmp_path / "gatewatch" / "spool"


def test_a_result_is_shown_as_archive_json_shows_a_file() -> None:
    """The four keys of `archive --json`, in its order."""
    result = PushResult("f.json", "archived", "20260101T000000000000Z")
    assert list(result.as_dict()) == ["source", "outcome", "timestamp", "reason"]
