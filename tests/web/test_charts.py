"""Tests for daemon.web.charts: valid SVG, gaps, a single run, bounds, markers, escaping."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from daemon.web.charts import (
    LEFT,
    RIGHT,
    WIDTH,
    SymbolPoint,
    history_chart,
    nice_ticks,
    symbol_chart,
)

BOUNDS = {
    "fitness": (0.7, 0.5),
    "profit_factor": (1.8, 1.3),
    "consistency": (0.85, 0.65),
    "max_drawdown": (0.08, 0.15),
}
SVG = "{http://www.w3.org/2000/svg}"


def point(ts: str, fitness: float | None = 0.75, **kw: object) -> SymbolPoint:
    """A run with good metrics except those given."""
    metrics = {"fitness": fitness, "profit_factor": 2.0, "consistency": 0.9, "max_drawdown": 0.05}
    return SymbolPoint(ts, kw.pop("run_id", "r"), metrics, **kw)  # type: ignore[arg-type]


def parse(svg: str) -> ET.Element:
    """The SVG as XML (it must be well-formed)."""
    return ET.fromstring(svg)


def test_symbol_chart_draws_bounds_markers_and_champion() -> None:
    """Four panels, two bounds each, a marker per run, a square for a decision, a halo."""
    points = [
        point("t1", verdict="APPROVED"),
        point("t2", 0.6, verdict="APPROVED", decided=True),
        point("t3", verdict="APPROVED", champion=True),
    ]
    root = parse(symbol_chart(points, BOUNDS))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for label in ("fitness", "profit factor", "consistency", "max drawdown"):
        assert label in texts
    assert "APPROVED >= 0.7" in texts
    assert "DROP < 0.5" in texts
    assert "APPROVED <= 0.08" in texts
    assert "DROP > 0.15" in texts
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "point"]
    assert len(groups) == 4 * 3
    assert len([g for g in groups if g.find(f"{SVG}rect") is not None]) == 4  # decided
    halos = [c for c in root.iter(f"{SVG}circle") if c.get("r") == "9"]
    assert len(halos) == 4  # the champion, in each panel


def test_gaps_break_the_line() -> None:
    """A missing value leaves no marker and splits the path into two pieces."""
    points = [point("t1", 0.7), point("t2", None), point("t3", math.nan), point("t4", 0.8)]
    svg = symbol_chart(points, BOUNDS)
    root = parse(svg)
    fitness_path = next(root.iter(f"{SVG}path")).get("d") or ""
    assert fitness_path.count("M") == 2
    assert "L" not in fitness_path
    assert "fitness missing" in svg


def test_single_run_and_no_run() -> None:
    """One run is a single marker in the middle; none says so."""
    root = parse(symbol_chart([point("only")], BOUNDS))
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "point"]
    xs = {float(g.find(f"{SVG}circle").get("cx") or 0) for g in groups}  # type: ignore[union-attr]
    assert len(groups) == 4
    assert xs == {LEFT + (WIDTH - LEFT - RIGHT) / 2}  # one x, the middle of the plot
    assert root.find(f"{SVG}path") is not None
    assert "no runs" in symbol_chart([], BOUNDS)


def test_infinite_profit_factor_sits_on_the_edge_and_says_inf() -> None:
    """PF = inf is drawn at the top of its panel with the word inf."""
    p = SymbolPoint(
        "t1",
        "r",
        {"fitness": 0.8, "profit_factor": math.inf, "consistency": 0.9, "max_drawdown": 0.05},
        "APPROVED",
    )
    svg = symbol_chart([p, point("t2")], BOUNDS)
    assert ">inf</text>" in svg
    assert "profit factor inf" in svg


@pytest.mark.parametrize("huge", [1.7976931348623157e308, -1.7976931348623157e308, 1e300, 1e16])
def test_a_value_far_off_the_scale_is_drawn_at_the_edge(huge: float) -> None:
    """A finite metric far beyond its bounds (a profit factor of 1.7e308) leaves the scale
    to the other values and sits clipped at the panel's edge (its ticks overflowed: the
    symbol page answered 500)."""
    metrics = {"fitness": 0.8, "profit_factor": huge, "consistency": 0.9, "max_drawdown": 0.05}
    svg = symbol_chart([SymbolPoint("t1", "r", metrics, "APPROVED"), point("t2")], BOUNDS)
    parse(svg)
    assert "nan" not in svg.lower()


def test_hostile_text_is_escaped() -> None:
    """Run ids and timestamps from files never become markup."""
    svg = symbol_chart([point("<t>", run_id="<script>alert(1)</script>")], BOUNDS)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    parse(svg)


def test_history_chart() -> None:
    """The history line has the best point marked; gaps and a single value work."""
    svg = history_chart([0.5, 0.7, None, 0.6], best_idx=1)
    root = parse(svg)
    assert (next(root.iter(f"{SVG}path")).get("d") or "").count("M") == 2
    assert "best: point 2, fitness 0.7" in svg  # counted from 1, as the report counts
    assert re.search(r'r="2"', svg)  # the isolated last point gets a dot
    assert "no history" in history_chart([])
    assert "no history" in history_chart([None, math.nan])
    parse(history_chart([0.4], best_idx=0))


@pytest.mark.parametrize(
    "history",
    [[1e17], [1e16, 1e16, 1e16], [1.7e308, -1.7e308], [-1.7e308, 0.0, 1.7e308], [5e-324, 0.0]],
)
def test_a_history_of_huge_or_flat_values_is_drawn(history: list[float]) -> None:
    """A flat history at 1e17, or one spanning ±1.7e308, is drawn inside the chart (a
    ZeroDivisionError made the run's page a 500; the wide one wrote NaN into the path)."""
    svg = history_chart(history, best_idx=0)
    root = parse(svg)
    path = next(root.iter(f"{SVG}path")).get("d") or ""
    ys = [float(y) for _, y in re.findall(r"[ML](\S+) (\S+)", path)]
    assert len(ys) == len(history)
    assert all(5 <= y <= 43 for y in ys), path
    assert "nan" not in svg.lower()


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(0, 1e6, allow_nan=False),
)
@example(262144.0, 5.960464477539063e-08)  # narrower than a float can tick at that size
def test_nice_ticks_are_round_evenly_spaced_and_cover_the_range(low: float, width: float) -> None:
    """Ticks step by 1, 2, 2.5 or 5 times a power of ten and cover low..high, 2 to 8 of them."""
    high = low + width
    ticks = nice_ticks(low, high)
    assert 2 <= len(ticks) <= 8
    assert ticks[0] <= low + 1e-9 * max(1.0, abs(low))
    assert ticks[-1] >= high - 1e-9 * max(1.0, abs(high))
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-3) for m in (1, 2, 2.5, 5, 10))
    assert all(math.isclose(b - a, step, rel_tol=1e-3) for a, b in itertools.pairwise(ticks))


def test_axes_show_round_ticks_and_dates_across_the_full_width() -> None:
    """Each panel's y labels are round values; up to six run dates label the x axis, the
    first and last among them; the SVG fills its card and draws nothing outside its box."""
    points = [point(f"202611{day:02d}T090000000000Z", 0.6 + day / 100) for day in range(1, 29)]
    svg = symbol_chart(points, BOUNDS)
    root = parse(svg)
    assert root.get("width") == "100%"
    ticks = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert "0.70" in ticks or "0.7" in ticks
    assert all(re.fullmatch(r"-?\d+(\.\d{1,3})?", tick) for tick in ticks), ticks
    dates = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "date"]
    assert len(dates) == 6
    assert (dates[0], dates[-1]) == ("2026-11-01", "2026-11-28")
    xs = [
        float(v) for e in root.iter() for k, v in e.attrib.items() if k in ("x", "x1", "x2", "cx")
    ]
    assert min(xs) >= 0
    assert max(xs) <= WIDTH
    assert max(xs) > WIDTH - RIGHT - 10  # the plot reaches the right edge (not 55% of it)


@pytest.mark.parametrize(
    ("stamps", "shown"),
    [
        (["20261101T090000000000Z", "20261128T090000000000Z"], "2026-11-01"),
        (["20261101T090000000000Z", "20261102T170000000000Z"], "11-01 09:00"),
        (["20261101T090000000000Z", "20261101T090005000000Z"], "09:00:00"),
        (["t1", "t2"], "t1"),
    ],
)
def test_dates_are_as_precise_as_the_span_needs(stamps: list[str], shown: str) -> None:
    """Weeks apart: dates; a day or two: day and time; minutes: the time to the second."""
    root = parse(symbol_chart([point(s) for s in stamps], BOUNDS))
    dates = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "date"]
    assert dates[0] == shown
