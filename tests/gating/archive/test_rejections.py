"""Tests for gating.archive.rejections: listing the rejected files, hostile ones passed over."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from gating.archive.disk import Disk
from gating.archive.layout import Layout
from gating.archive.rejections import count_rejected, list_rejected, reject, rejected_keys
from gating.errors import ArchiveError

pytestmark = pytest.mark.timeout(20)  # a FIFO read would hang: the timeout makes it a failure

GOOD = {
    "source": "in/a_summary.json",
    "sha256": "ab" * 32,
    "reason": "models: missing",
    "rejected_at": "20261126T163000000000Z",
    "copied": True,
}


def _hostile(folder: Path, kind: str) -> None:
    path = folder / f"20261126T163000000001Z-{kind}.reason.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        path.write_bytes(b" " * (1 << 20) + json.dumps(GOOD).encode())
    elif kind == "not-json":
        path.write_bytes(b"\xff\xfe{")
    elif kind == "wrong-types":
        path.write_text(json.dumps({**GOOD, "reason": {"a": 1}, "source": 3}))
    elif kind == "folder":
        path.mkdir()


@pytest.mark.parametrize("kind", ["fifo", "symlink", "huge", "not-json", "wrong-types", "folder"])
def test_hostile_reason_files_are_passed_over(tmp_path: Path, kind: str) -> None:
    """A reason file that is not ours is skipped without blocking; the honest ones are listed."""
    (tmp_path / "20261126T163000000000Z-a_summary.json.reason.json").write_text(json.dumps(GOOD))
    _hostile(tmp_path, kind)
    found = list_rejected(tmp_path)
    assert [entry.as_document() for entry in found] == [GOOD]


@pytest.mark.parametrize("kind", ["fifo", "symlink", "huge", "not-json", "wrong-types", "folder"])
def test_hostile_reason_files_give_no_digest_and_never_block(tmp_path: Path, kind: str) -> None:
    """The digests a starting service reads are the honest files' alone: a FIFO never
    blocks it, a symlink to /dev/zero never fills its memory (both hung or killed the
    start: the worker reads them as it is built)."""
    layout = Layout(tmp_path / "archive")
    layout.rejected.mkdir(parents=True)
    (layout.rejected / "20261126T163000000000Z-a_summary.json.reason.json").write_text(
        json.dumps(GOOD)
    )
    _hostile(layout.rejected, kind)
    assert rejected_keys(layout) == {GOOD["sha256"]}


def test_no_folder_is_no_rejected_files(tmp_path: Path) -> None:
    """An archive that never rejected a file has no _rejected/ folder and lists nothing."""
    assert list_rejected(tmp_path / "_rejected") == []


def test_a_file_where_the_folder_belongs_holds_no_rejected_files(tmp_path: Path) -> None:
    """A file in _rejected/'s place lists, counts and remembers nothing (the dashboard's
    home page and /metrics were a 500, and the service would not start)."""
    layout = Layout(tmp_path / "archive")
    layout.root.mkdir()
    layout.rejected.write_bytes(b"x")
    assert list_rejected(layout.rejected) == []
    assert count_rejected(layout.rejected) == 0
    assert rejected_keys(layout) == set()


def test_a_file_where_the_folder_belongs_makes_a_rejection_fail_saying_so(tmp_path: Path) -> None:
    """Keeping a rejected file fails with an error that names the file in the folder's
    place (it said only 'File exists'), and the file is left as it was."""
    layout = Layout(tmp_path / "archive")
    layout.root.mkdir()
    layout.rejected.write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="not a folder") as failure:
        reject(layout, "20261126T163000000000Z", b"{", source="a.json", reason="bad", sha256=None,
               disk=Disk())  # fmt: skip
    assert failure.value.filename == str(layout.rejected)
    assert layout.rejected.read_bytes() == b"x"


def test_a_folder_that_cannot_be_listed_is_one_archive_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder that cannot be listed now (no more files may be opened) is ArchiveError
    naming it, which the dashboard answers with a 503, not a 500."""
    (tmp_path / "_rejected").mkdir()

    def out_of_files(path: object) -> list[str]:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE), str(path))

    monkeypatch.setattr(os, "listdir", out_of_files)
    for call in (list_rejected, count_rejected):
        with pytest.raises(ArchiveError, match=r"_rejected: cannot list the rejected files: Too"):
            call(tmp_path / "_rejected")
