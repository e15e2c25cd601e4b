"""Tests for gating.regate: the time-ordered fold against a brute-force oracle."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from gating.archive.layout import ts_from_micros
from gating.champion import step_back
from gating.regate import LETTERS, Regater, RunOutcome
from gating.rules import exceeds
from gating.verdicts import Decision, iso_from_micros, micros_from_iso

START = 1_800_000_000_000_000
STEP = 1_000_000
TOLERANCE = 0.02
SYMBOLS = ("AAPL", "MSFT")

# Few values, mostly APPROVED, decisions close behind their runs: champions change often.
fitness = st.sampled_from([0.80, 0.85, 0.90, 0.95])
run_models = st.tuples(*(st.tuples(st.sampled_from("AAAARD"), fitness) for _ in SYMBOLS))
decision_plan = st.tuples(
    st.integers(0, 11), st.sampled_from(SYMBOLS), st.integers(0, 3), st.booleans()
)


def outcome(index: int, models: tuple[tuple[str, float], ...], stored: str) -> RunOutcome:
    """Run ``index`` with each symbol's gated letter and fitness (other metrics fixed)."""
    micros = START + index * STEP
    metrics = tuple((fitness, 2.0, 0.9, 0.05) for _, fitness in models)
    gated = "".join(letter for letter, _ in models)
    return RunOutcome(ts_from_micros(micros), micros, f"r{index}", SYMBOLS, stored, gated, metrics)


def decisions_for(
    runs: list[RunOutcome], plans: list[tuple[int, str, int, bool]]
) -> list[Decision]:
    """Decisions on random earlier runs, each made at some moment after its run."""
    made = []
    for seq, (target, symbol, delay, approve) in enumerate(
        sorted(plans, key=lambda p: p[0] + p[2])
    ):
        if target >= len(runs):
            continue
        micros = runs[target].micros + delay * STEP + STEP // 2  # between two runs
        verdict = "APPROVED" if approve else "DROP"
        made.append(
            Decision(seq + 1, runs[target].timestamp, symbol, verdict, "REVIEW", "REVIEW",
                     True, "ann", "why", iso_from_micros(micros))
        )  # fmt: skip
    made.sort(key=lambda d: d.decided_at)
    return [dataclasses.replace(d, seq=i + 1) for i, d in enumerate(made)]


def oracle(runs: list[RunOutcome], decisions: list[Decision]) -> dict[tuple[str, str], str]:
    """Each model's class by brute force: its champion is the newest earlier APPROVED verdict."""
    final: dict[tuple[str, str], str] = {}
    for j, run in enumerate(runs):
        for i, symbol in enumerate(SYMBOLS):
            champion = None
            for earlier in reversed(runs[:j]):
                key = (symbol, earlier.timestamp)
                made = [
                    d
                    for d in decisions
                    if (d.symbol, d.timestamp) == key
                    and micros_from_iso(d.decided_at) <= run.micros
                ]
                verdict = made[-1].verdict if made else LETTERS[final[key]]
                if verdict == "APPROVED":
                    champion = earlier.metrics[SYMBOLS.index(symbol)][0]  # type: ignore[index]
                    break
            letter = run.gated[i]
            if letter == "A" and champion is not None:
                step = step_back("fitness", run.metrics[i][0], champion)  # type: ignore[index]
                if step is not None and exceeds(step, TOLERANCE):
                    letter = "R"
            final[(symbol, run.timestamp)] = letter
    return final


@settings(max_examples=200)
@given(
    st.lists(run_models, min_size=1, max_size=12),
    st.lists(decision_plan, max_size=8),
    st.text("ARD", min_size=2, max_size=2),
)
def test_the_fold_matches_brute_force(
    models: list[tuple[tuple[str, float], ...]],
    plans: list[tuple[int, str, int, bool]],
    stored: str,
) -> None:
    """Champions follow the re-gated verdicts and the decisions made before each run."""
    runs = [outcome(i, m, stored) for i, m in enumerate(models)]
    decisions = decisions_for(runs, plans)
    report = Regater({"fitness": TOLERANCE}, decisions).fold(runs)
    expected = oracle(runs, decisions)
    changed = {(c.symbol, c.timestamp): c.after for c in report.changes}
    for run in runs:
        for i, symbol in enumerate(SYMBOLS):
            key = (symbol, run.timestamp)
            assert LETTERS[expected[key]] == changed.get(key, LETTERS[run.stored[i]])
    assert sum(report.other.values()) == sum(report.now.values()) == 2 * len(runs)


@given(
    st.lists(
        st.tuples(st.text("ARD", min_size=2, max_size=2), st.text("ARD", min_size=2, max_size=2))
    )
)
def test_without_a_table_the_changes_are_the_letters_that_differ(
    letters: list[tuple[str, str]],
) -> None:
    """No champion table: a change exactly where the stored and re-gated letters differ."""
    runs = [
        RunOutcome(ts_from_micros(START + i * STEP), START + i * STEP, None, SYMBOLS, now, gated)
        for i, (now, gated) in enumerate(letters)
    ]
    report = Regater({}, []).fold(runs)
    expected = [
        (run.timestamp, symbol, LETTERS[run.stored[i]], LETTERS[run.gated[i]])
        for run in runs
        for i, symbol in enumerate(SYMBOLS)
        if run.stored[i] != run.gated[i]
    ]
    assert [(c.timestamp, c.symbol, c.before, c.after) for c in report.changes] == expected
    for letter, name in LETTERS.items():
        assert report.other[name] == sum(run.gated.count(letter) for run in runs)
