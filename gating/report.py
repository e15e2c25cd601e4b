"""Rendering a gated run as recommendations.md, a report a person reads in ten seconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeGuard

from gating.champion import comparison_lines
from gating.explain import reasons
from gating.rules import Classification, Flag, ModelAssessment
from gating.run import ArchivedRun

__all__ = ["FLAG_MEANINGS", "render_recommendations", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
_MAX_POINTS = 50

_ACTIONS = {
    Classification.APPROVED: "deploy to production",
    Classification.REVIEW: "manual review required",
    Classification.DROP: "do not deploy",
}

FLAG_MEANINGS = {
    Flag.FITNESS_DECLINE: "final fitness fell more than the decline threshold below its peak "
    "(the model peaked earlier: restore the best checkpoint)",
    Flag.UNSTABLE_TRAINING: "fitness swung up and down by more than the oscillation threshold "
    "(training is unstable)",
    Flag.LOW_FITNESS: "fitness is below the REVIEW minimum",
    Flag.LOW_PF: "profit factor is below the REVIEW minimum",
    Flag.LOW_CONSISTENCY: "consistency is below the REVIEW minimum",
    Flag.HIGH_DRAWDOWN: "max drawdown is above the REVIEW maximum",
    Flag.MISSING_METRIC: "a metric was null or NaN, so the model cannot be judged",
    Flag.BELOW_CHAMPION: "the gate said APPROVED, but the model steps back further from its "
    "symbol's champion than [gating.champion] allows (REVIEW instead)",
}


def _all_finite(history: Sequence[float | None]) -> TypeGuard[Sequence[float]]:
    """No gap, NaN or infinity (the usual history); a sum that overflows says False too."""
    return None not in history and math.isfinite(sum(history))  # type: ignore[arg-type]


def _bars(points: Sequence[float | None], low: float, high: float) -> str:
    """Each point as a bar scaled from ``low`` to ``high``; a gap (None) as a middle dot."""
    span = high - low
    if span == math.inf:  # ±1e308: the span overflows; halved, every value still fits
        return _bars([None if p is None else p / 2 for p in points], low / 2, high / 2)
    scale = 7 / span if span > 0 else 0.0
    if math.isinf(scale):  # a subnormal span: 7 / span overflows, so divide point by point
        return "".join(["·" if p is None else _BARS[round((p - low) / span * 7)] for p in points])
    return "".join(["·" if p is None else _BARS[round((p - low) * scale)] for p in points])


def _finite_bars(points: Sequence[float], low: float, high: float) -> str:
    """_bars of a series with no gap (the usual history), without the per-point gap test."""
    span = high - low
    if span == math.inf:
        return _bars(points, low, high)
    scale = 7 / span if span > 0 else 0.0
    if math.isinf(scale):
        return _bars(points, low, high)
    bars = _BARS
    return "".join([bars[round((p - low) * scale)] for p in points])


def sparkline(history: Sequence[float | None], width: int = _MAX_POINTS) -> str:
    """A one-line Unicode chart of a series; gaps (None/NaN) show as a middle dot."""
    if len(history) <= width and history and _all_finite(history):
        return _finite_bars(history, min(history), max(history))
    points = [p if p is not None and -math.inf < p < math.inf else None for p in history]
    if len(points) > width:
        # Keep the shape: each character shows the largest value of its bucket.
        size = len(points) / width
        buckets = [points[int(i * size) : int((i + 1) * size)] for i in range(width)]
        points = [max([p for p in b if p is not None], default=None) for b in buckets]
    values = [p for p in points if p is not None]
    if not values:
        return "·" * len(points)
    return _bars(points, min(values), max(values))


def _number(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.1%}" if percent else f"{value:.3g}"


def _history_cell(history: Sequence[float | None]) -> str:
    if history and len(history) <= _MAX_POINTS and _all_finite(history):  # the usual case
        low, high = min(history), max(history)
        line = _finite_bars(history, low, high)
        return f"`{line}` {history[0]:.3g}→{history[-1]:.3g} (peak {high:.3g})"
    values = [p for p in history if p is not None and math.isfinite(p)]
    if not values:
        return "—"
    return f"`{sparkline(history)}` {values[0]:.3g}→{values[-1]:.3g} (peak {max(values):.3g})"


def _table(assessments: Sequence[ModelAssessment], why: bool = False) -> list[str]:
    """The class's table; ``why`` adds what stands between each model and APPROVED."""
    lines = [
        "| Symbol | Fitness | PF | Consistency | MaxDD | Fitness history | Flags |"
        + (" Why not APPROVED |" if why else ""),
        "|---|---:|---:|---:|---:|---|---|" + ("---|" if why else ""),
    ]
    for a in assessments:
        cells = [
            a.symbol.replace("|", "\\|"),
            _number(a.metric("fitness")),
            _number(a.metric("profit_factor")),
            _number(a.metric("consistency"), percent=True),
            _number(a.metric("max_drawdown"), percent=True),
            _history_cell(a.fitness_history),
            ", ".join(a.flags) or "—",
        ]
        if why:
            cells.append("; ".join(reasons(a)).replace("|", "\\|") or "—")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _checkpoint_advice(run: ArchivedRun) -> list[str]:
    lines = []
    for a in run.assessments:
        if not a.use_checkpoint or a.best_idx is None:
            continue
        peak = a.fitness_history[a.best_idx]
        # best_idx counts from 0: say which point a person counting from 1 should look at.
        where = (
            f"the {_ordinal(a.best_idx + 1)} validation point "
            f"(index {a.best_idx}, peak fitness {_number(peak)})"
        )
        if a.checkpoint_step is not None:
            lines.append(
                f"- **{a.symbol}**: restore the checkpoint at step "
                f"**{a.checkpoint_step:,}**, {where}."
            )
        else:
            lines.append(
                f"- **{a.symbol}**: restore the checkpoint of {where}; "
                "the summary gives no validation_interval to turn it into a step."
            )
    return lines


def render_recommendations(run: ArchivedRun) -> str:
    """The Markdown report of one gated run."""
    title = run.run_id or run.timestamp
    lines = [
        f"# Training run {title}",
        "",
        f"Archived {run.timestamp}"
        + (f" from `{run.source}`" if run.source else "")
        + f" · summary sha256 `{run.sha256[:12]}`",
        "",
        f"**{run.approved_count} APPROVED · {run.review_count} REVIEW · "
        f"{run.dropped_count} DROP** ({len(run.assessments)} models)",
    ]
    unstable = {a.symbol for a in run.assessments if Flag.UNSTABLE_TRAINING in a.flags}
    approved = [
        f"{symbol} (caution: unstable training, check its history first)"
        if symbol in unstable
        else symbol
        for symbol in run.approved
    ]
    lines += ["", "Deploy: " + (", ".join(approved) if approved else "nothing in this run.")]
    for classification in Classification:
        chosen = [a for a in run.assessments if a.classification is classification]
        if chosen:
            lines += ["", f"## {classification} — {_ACTIONS[classification]}", ""]
            lines += _table(chosen, why=classification is not Classification.APPROVED)
    advice = _checkpoint_advice(run)
    if advice:
        lines += ["", "## Checkpoint advice", "", *advice]
    compared = [line for a in run.assessments for line in comparison_lines(a)]
    if compared:
        lines += ["", "## Against the champion", "", *(f"- {line}." for line in compared)]
    raised = [flag for flag in Flag if any(flag in a.flags for a in run.assessments)]
    if raised:
        lines += ["", "## What the flags mean", ""]
        lines += [f"- `{flag}`: {FLAG_MEANINGS[flag]}." for flag in raised]
    c = run.config
    lines += [
        "",
        "## Thresholds",
        "",
        f"APPROVED: fitness ≥ {c.approved_min_fitness:g}, PF ≥ {c.approved_min_pf:g}, "
        f"consistency ≥ {c.approved_min_consistency:.0%}, MaxDD ≤ {c.approved_max_drawdown:.0%}. "
        f"DROP: fitness < {c.review_min_fitness:g}, PF < {c.review_min_pf:g}, "
        f"consistency < {c.review_min_consistency:.0%}, MaxDD > {c.review_max_drawdown:.0%}. "
        "Anything between is REVIEW.",
        "",
    ]
    return "\n".join(lines)
