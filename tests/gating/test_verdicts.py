"""Tests for gating.verdicts: verdict parsing, overrides and decision records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating import Classification, Decision, DecisionError
from gating.verdicts import check_decision, iso_from_micros, micros_from_iso, parse_verdict

APPROVED, REVIEW, DROP = Classification


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve", APPROVED),
        ("APPROVE", APPROVED),
        (" Approved ", APPROVED),
        ("drop", DROP),
        ("DROP", DROP),
        (APPROVED, APPROVED),
    ],
)
def test_parse_verdict(text: str, expected: Classification) -> None:
    """approve/drop in any case, or the class names, are verdicts."""
    assert parse_verdict(text) is expected


@pytest.mark.parametrize("text", ["review", "REVIEW", "", "yes", None, 1])
def test_unknown_verdict_is_a_decision_error(text: object) -> None:
    """Anything else is a DecisionError, a ValueError."""
    with pytest.raises(DecisionError, match="is not approve or drop"):
        parse_verdict(text)
    assert issubclass(DecisionError, ValueError)


@pytest.mark.parametrize(
    ("gate", "verdict", "force", "override"),
    [
        (REVIEW, APPROVED, False, False),
        (REVIEW, DROP, False, False),
        (APPROVED, APPROVED, False, False),
        (DROP, DROP, False, False),
        (APPROVED, DROP, True, True),
        (DROP, APPROVED, True, True),
        (REVIEW, APPROVED, True, False),
        (APPROVED, DROP, False, None),
        (DROP, APPROVED, False, None),
    ],
)
def test_override_needs_force(
    gate: Classification, verdict: Classification, force: bool, override: bool | None
) -> None:
    """Deciding against an APPROVED or DROP gate is an override, refused unless forced."""
    if override is None:
        with pytest.raises(DecisionError, match="overrides it"):
            check_decision(gate, verdict, by="ann", reason="why", force=force)
    else:
        assert check_decision(gate, verdict, by="ann", reason="why", force=force) is override


@pytest.mark.parametrize(
    ("by", "reason"),
    [
        ("ann", ""),
        ("ann", "  \n"),
        ("", "ok"),
        (" ", "ok"),
        ("ann", "\u200b"),  # a zero-width space
        ("ann", "\x1b \u2060\ufeff"),  # ESC, a word joiner, a BOM
        ("\u200b", "ok"),
    ],
)
def test_blank_reason_or_name_is_refused(by: str, reason: str) -> None:
    """A decision needs a reason and a name, neither blank nor invisible only."""
    with pytest.raises(DecisionError, match="must not be blank"):
        check_decision(REVIEW, APPROVED, by=by, reason=reason, force=True)


@given(st.integers(-62135596800000000, 253402300799999999))  # years 1 to 9999
def test_iso_time_round_trips_and_sorts(micros: int) -> None:
    """decided_at text parses back to its moment and is fixed-width, so it sorts as time."""
    text = iso_from_micros(micros)
    assert micros_from_iso(text) == micros
    assert len(text) == len("2026-11-26T16:30:00.000000Z")


def decision(seq: int = 1, verdict: str = "APPROVED", previous: str = "REVIEW") -> Decision:
    """A decision on AAPL of one run."""
    return Decision(seq, "20261126T163000000000Z", "AAPL", verdict, previous, "REVIEW", False,
                    "ann", "looks fine", "2026-11-26T17:00:00.000000Z", "run-a")  # fmt: skip


def test_decision_record_round_trips() -> None:
    """A decision file's content reads back as the same decision, named by time and seq."""
    d = decision(7)
    assert Decision.from_record(d.to_record()) == d
    assert d.name == "20261126T170000000000Z-000007"
    with pytest.raises(ValueError, match="not a decision"):
        Decision.from_record({**d.to_record(), "verdict": "REVIEW"})


@pytest.mark.parametrize(
    "decided_at",
    [
        "2026-11-26T12:00:00-05:00",  # 17:00 UTC, but compared as text it sorts before 13:00Z
        "2026-11-26 17:00:00",
        "2026-11-26T17:00:00Z",
        "2026-11-26T17:00:00.000000+00:00",
    ],
)
def test_a_decision_time_not_written_as_gatewatch_writes_it_is_refused(decided_at: str) -> None:
    """decided_at is compared as text (deployable --at): a file edited to another form of
    the time is not a decision (an offset made a later decision count as earlier)."""
    with pytest.raises(ValueError, match=r"decided_at: .* is not written as gatewatch writes it"):
        Decision.from_record({**decision().to_record(), "decided_at": decided_at})
