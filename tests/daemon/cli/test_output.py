"""Tests for daemon.cli.output: cells cut to fit a table keep each escape whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.cli.output import _UNIT, _clip, metric, print_reasons, print_table
from daemon.text import visible


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("run-\u202eabcdefgh", 12, "run-…bcdefgh"),  # was "run-\\…bcdefgh"
        ("AAPL\u200bXYZ", 9, "AAPL…XYZ"),  # was "AAPL…bXYZ"
        ("AAPL\u200bXYZ", 13, "AAPL\\u200bXYZ"),
        ("a\nb" * 5, 7, "a\\n…\\nb"),
    ],
)
def test_a_cut_never_splits_an_escape(text: str, width: int, shown: str) -> None:
    """Half of an escape such as ``\\u202e`` is never shown: it is kept whole or cut."""
    assert _clip(visible(text), width) == shown


@given(st.text(max_size=60), st.integers(min_value=1, max_value=70))
def test_a_cut_cell_fits_and_is_made_of_whole_units(text: str, width: int) -> None:
    """Any text cut to any width fits it, and both ends are whole characters or escapes."""
    shown = visible(text)
    clipped = _clip(shown, width)
    assert len(clipped) <= width
    if clipped == shown:
        return
    units = _UNIT.findall(shown)
    heads = ["".join(units[:k]) for k in range(len(units) + 1)]
    assert any(
        clipped == head + "…" + "".join(units[k:]) for head in heads for k in range(len(units) + 1)
    )


def test_a_reason_is_cut_at_its_end(capsys: pytest.CaptureFixture[str]) -> None:
    """A column cut at its end keeps the start a reason is read from (the `rejected`
    table cut the middle: `models.AAPL.max_dr…_dd, final_max_dd)`); others the middle."""
    reason = "models.AAPL.max_drawdown: missing (also accepted: max_dd, final_max_dd)"
    print_table(
        ["SOURCE", "REASON"],
        [["/runs/" + "x" * 40 + "_summary.json", reason]],
        elastic=("SOURCE", "REASON"),
        limit=60,
        cut_at_end=("REASON",),
    )
    source, cut = capsys.readouterr().out.splitlines()[1].split("  ")
    assert cut.startswith("models.AAPL.max_drawdown: ")
    assert cut.endswith("…")
    assert "…" in source
    assert source.endswith("_summary.json")


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("fitness", 0.7512, "0.751"),
        ("consistency", 0.85, "85.0%"),
        ("fitness", None, "-"),
        ("fitness", float("inf"), "inf"),
        ("fitness", "x\x1b", "x\\x1b"),  # a row written by hand: was a TypeError traceback
        ("fitness", True, "True"),
    ],
)
def test_a_metric_is_shown_as_the_report_shows_it(name: str, value: object, shown: str) -> None:
    """Fractions as percents, others to three digits, and anything else as it is."""
    assert metric(name, value) == shown  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [45, 60, 100])
@pytest.mark.parametrize("long_first", [False, True])
def test_reasons_break_between_reasons_and_a_long_one_between_its_words(
    capsys: pytest.CaptureFixture[str], limit: int, long_first: bool
) -> None:
    """Short reasons stay whole on a line; one too long for a line breaks at its spaces,
    never inside a word (review printed `(a` and `t most 2%)` on two lines), and no line
    passes the limit."""
    short = "consistency 0.80 < 0.85"
    long = "fitness 0.85 is 5.6% below the champion's 0.90 from 20261207T121800000000Z (at most 2%)"
    why = [long, short] if long_first else [short, long]
    print_reasons([("AAPL 20261207T121827695410Z", why)], limit)
    heading, *lines = capsys.readouterr().out.strip().splitlines()
    assert heading == "why not APPROVED:"
    words = " ".join(line.strip() for line in lines).split(" ")
    assert words == f"AAPL 20261207T121827695410Z: {'; '.join(why)}".split(" ")
    assert all(len(line) <= limit for line in lines)
    if limit > 45:  # room for it whole on a line
        assert any(short in line for line in lines)


class _Terminal:
    """A stdout that says it is a terminal, collecting what is printed."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(
    ("terminal", "columns", "shown"),
    [
        (True, "200", "FITNESS_DECLINE,UNSTABLE_TRAINING"),
        (True, "60", "FITNE…AINING"),  # never narrower than 100
        (False, "200", "FITNE…AINING"),  # piped: one shape for scripts
    ],
    ids=["wide-terminal", "narrow-terminal", "piped"],
)
def test_a_wide_terminal_shows_the_whole_flags(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, columns: str, shown: str
) -> None:
    """A table fits the terminal's width when that is over 100 columns (history cut a
    model's two flags to FITNE…AINING on any screen); piped, or narrower, 100."""
    out = _Terminal()
    monkeypatch.setattr(out, "isatty", lambda: terminal)
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setenv("COLUMNS", columns)
    prefix = ["20261208T001749140838Z", "b", "APPROVED", "0.75", "1.9", "88.0%", "6.0%"]
    headers = ["TIMESTAMP", "RUN_ID", "CLASS", "FITNESS", "PF", "CONSISTENCY", "MAXDD"]
    print_table(
        [*headers, "FLAGS", "CHECKPOINT"],
        [[*prefix, "FITNESS_DECLINE,UNSTABLE_TRAINING", "2000"]],
        elastic=("RUN_ID", "FLAGS"),
    )
    row = "".join(out.lines).splitlines()[1]
    assert row.split()[7] == shown
