"""Tests for gating.archive.layout: which names are run timestamps, and stamping after them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating.archive.layout import Layout, Stamper, is_timestamp, ts_from_micros, ts_micros
from gating.errors import ArchiveError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("20261206T203140682531Z", True),
        ("20240229T235959999999Z", True),  # a leap day
        ("19700101T000000000000Z", True),
        ("99991231T235959999999Z", True),
        ("20230229T000000000000Z", False),  # no leap day that year
        ("20230431T000000000000Z", False),
        ("20261399T999999999999Z", False),  # of the form, but no moment
        ("20261200T000000000000Z", False),
        ("20261206T240000000000Z", False),
        ("20261206T236000000000Z", False),
        ("20261206T235960000000Z", False),
        ("19691231T235959999999Z", False),
        ("00000101T000000000000Z", False),
        ("20261206T203140682531", False),
        ("20261206t203140682531Z", False),
        (".staging-20261206T203140682531Z", False),
    ],
)
def test_a_run_timestamp_names_a_real_moment(name: str, expected: bool) -> None:
    """A name of the timestamp's form is a run's only if it names a moment that exists
    (a folder named 20261399T999999999999Z crashed the stamper and /metrics)."""
    assert is_timestamp(name) is expected


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)))
def test_every_moment_stamped_is_a_timestamp_and_reads_back(moment: datetime) -> None:
    """Each moment's timestamp reads back to its microseconds and has the run timestamp's
    width (years before 1000 too: a time sorts as text); from 1970 on it is one."""
    micros = (moment.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    )
    stamp = ts_from_micros(micros)
    assert len(stamp) == len("20261126T163000000000Z")
    assert is_timestamp(stamp) is (moment.year >= 1970)
    assert ts_micros(stamp) == micros


def test_no_timestamp_left_after_the_last_moment_is_one_archive_error() -> None:
    """A newest run at the last microsecond a datetime holds leaves no later timestamp:
    one ArchiveError naming it (a ValueError killed the service's worker)."""
    with pytest.raises(ArchiveError, match=r"no run timestamp is left after .*99991231T2359"):
        Stamper().next("99991231T235959999999Z")
    assert Stamper().next("99991231T235959999998Z") == "99991231T235959999999Z"


@pytest.mark.parametrize(
    ("entries", "none"),
    [
        ([], True),
        (["notes.txt", "20261206T203140682531Z.txt", "2026-12-06"], True),  # a file, a name
        ([".staging-20261206T203140682531Z/"], True),  # not published
        (["notes.txt", "20261206T203140682531Z/"], False),
    ],
)
def test_holds_no_run_looks_for_a_run_folder(
    tmp_path: Path, entries: list[str], none: bool
) -> None:
    """holds_no_run is True for a folder with no run folder in it (or no folder at all)."""
    for name in entries:
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_text("x", "utf-8")
    assert Layout(tmp_path).holds_no_run() is none
    assert Layout(tmp_path / "absent").holds_no_run()
