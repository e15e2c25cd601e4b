"""Server-side SVG charts: a symbol's four metrics across runs and a run's fitness history."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["COLORS", "METRIC_LABELS", "SymbolPoint", "history_chart", "symbol_chart"]

COLORS = {"APPROVED": "#1a7f37", "REVIEW": "#9a6700", "DROP": "#cf222e"}
BAND_FILL = {"APPROVED": "#dafbe1", "DROP": "#ffebe9"}
CHAMPION = "#8250df"
LINE = "#57606a"
METRIC_LABELS = {
    "fitness": "fitness",
    "profit_factor": "profit factor",
    "consistency": "consistency",
    "max_drawdown": "max drawdown",
}
LOWER_IS_BETTER = frozenset({"max_drawdown"})
WIDTH, LEFT, RIGHT = 760, 64, 150
PANEL, TITLE, GAP = 92, 18, 20


@dataclass(frozen=True, slots=True)
class SymbolPoint:
    """One run of a symbol as the chart shows it."""

    timestamp: str
    run_id: str | None
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    verdict: str = "REVIEW"
    decided: bool = False
    champion: bool = False


def _num(value: float) -> str:
    """A coordinate with two decimals (short, exact enough for a screen)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    """A value for an axis or a tooltip."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _scale(values: Sequence[float | None], bounds: Sequence[float]) -> tuple[float, float]:
    """The (low, high) of a panel: every finite value and both bounds, padded."""
    known = [v for v in values if v is not None and math.isfinite(v)] + list(bounds)
    low, high = min(known, default=0.0), max(known, default=1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.08
    return low - pad, high + pad


def _xs(count: int, left: float, width: float) -> list[float]:
    """Evenly spaced x positions; a single point sits in the middle."""
    if count == 1:
        return [left + width / 2]
    return [left + width * i / (count - 1) for i in range(count)]


def _path(points: Sequence[tuple[float, float | None]]) -> str:
    """An SVG path through the points, broken at every gap (None)."""
    parts: list[str] = []
    pen_down = False
    for x, y in points:
        if y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{_num(x)} {_num(y)}")
        pen_down = True
    return " ".join(parts)


def _marker(x: float, y: float, point: SymbolPoint, tip: str) -> str:
    color = COLORS.get(point.verdict, LINE)
    shape = (
        f'<rect x="{_num(x - 4.5)}" y="{_num(y - 4.5)}" width="9" height="9" fill="{color}" '
        f'stroke="#24292f" stroke-width="1.5"/>'
        if point.decided
        else f'<circle cx="{_num(x)}" cy="{_num(y)}" r="4" fill="{color}"/>'
    )
    halo = (
        f'<circle cx="{_num(x)}" cy="{_num(y)}" r="9" fill="none" stroke="{CHAMPION}" '
        f'stroke-width="2.5"/>'
        if point.champion
        else ""
    )
    return f'<g class="point">{halo}{shape}<title>{escape(tip)}</title></g>'


def _tooltip(point: SymbolPoint, metric: str, value: float | None) -> str:
    shown = "missing" if value is None or math.isnan(value) else _label(value)
    extra = (" (decided)" if point.decided else "") + (" - champion" if point.champion else "")
    who = f" {point.run_id}" if point.run_id else ""
    return f"{point.timestamp}{who}: {METRIC_LABELS[metric]} {shown}, {point.verdict}{extra}"


def _panel(
    metric: str, points: Sequence[SymbolPoint], bounds: tuple[float, float], top: float
) -> list[str]:
    """One metric's panel: bands, bound lines, the line with gaps, markers."""
    approved, drop = bounds
    values = [p.metrics.get(metric) for p in points]
    low, high = _scale(values, bounds)
    plot_w = WIDTH - LEFT - RIGHT
    y0 = top + TITLE

    def y_of(value: float) -> float:
        clipped = min(max(value, low), high)
        return y0 + PANEL * (high - clipped) / (high - low)

    out = [
        f'<text x="{LEFT}" y="{_num(top + 12)}" font-weight="600">{METRIC_LABELS[metric]}</text>'
    ]
    # The APPROVED band and the DROP band, shaded behind everything.
    lower = metric in LOWER_IS_BETTER
    bands = {
        "APPROVED": (low, approved) if lower else (approved, high),
        "DROP": (drop, high) if lower else (low, drop),
    }
    for name, (start, end) in bands.items():
        y_top, y_bottom = y_of(end), y_of(start)
        out.append(
            f'<rect x="{LEFT}" y="{_num(y_top)}" width="{plot_w}" '
            f'height="{_num(max(0.0, y_bottom - y_top))}" fill="{BAND_FILL[name]}"/>'
        )
    for name, bound, sign in (
        ("APPROVED", approved, "<=" if lower else ">="),
        ("DROP", drop, ">" if lower else "<"),
    ):
        at = _num(y_of(bound))
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{at}" y2="{at}" stroke="{COLORS[name]}" '
            f'stroke-dasharray="5 4" stroke-width="1.2"/>'
            f'<text x="{LEFT + plot_w + 6}" y="{at}" dy="4" fill="{COLORS[name]}" font-size="10">'
            f"{name} {escape(sign)} {_label(bound)}</text>"
        )
    out.append(
        f'<text x="{LEFT - 6}" y="{_num(y0 + 4)}" text-anchor="end" fill="#57606a">'
        f"{_label(high)}</text>"
        f'<text x="{LEFT - 6}" y="{_num(y0 + PANEL)}" text-anchor="end" fill="#57606a">'
        f"{_label(low)}</text>"
    )
    xs = _xs(len(points), LEFT + 8, plot_w - 16)
    ys = [y_of(v) if v is not None and not math.isnan(v) else None for v in values]
    out.append(f'<path d="{_path(list(zip(xs, ys, strict=True)))}" fill="none" stroke="{LINE}"/>')
    for x, y, value, point in zip(xs, ys, values, points, strict=True):
        if y is None:  # a gap: a faint tick on the axis says the run is there
            out.append(
                f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{_num(y0 + PANEL - 4)}" '
                f'y2="{_num(y0 + PANEL)}" stroke="{COLORS["DROP"]}"><title>'
                f"{escape(_tooltip(point, metric, value))}</title></line>"
            )
        else:
            out.append(_marker(x, y, point, _tooltip(point, metric, value)))
            if value is not None and math.isinf(value):  # drawn at the edge: say so
                out.append(
                    f'<text x="{_num(x + 7)}" y="{_num(y + 4)}" fill="#57606a">'
                    f"{_label(value)}</text>"
                )
    return out


def symbol_chart(points: Sequence[SymbolPoint], bounds: Mapping[str, tuple[float, float]]) -> str:
    """The four metrics of a symbol across runs, one panel each, as a standalone SVG."""
    height = len(METRIC_LABELS) * (TITLE + PANEL + GAP) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" class="chart" '
        f'aria-label="metrics across {len(points)} runs" font-family="sans-serif" '
        'font-size="11">'
    ]
    if not points:
        out.append('<text x="20" y="30">no runs</text></svg>')
        return "".join(out)
    for i, metric in enumerate(METRIC_LABELS):
        out += _panel(metric, points, bounds[metric], 4 + i * (TITLE + PANEL + GAP))
    bottom = height - 22
    first, last = points[0].timestamp, points[-1].timestamp
    out.append(
        f'<text x="{LEFT}" y="{bottom}" fill="#57606a">{escape(first)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{bottom}" text-anchor="end" fill="#57606a">'
        f"{escape(last) if len(points) > 1 else ''}</text>"
    )
    legend = [
        (COLORS["APPROVED"], "APPROVED"),
        (COLORS["REVIEW"], "REVIEW"),
        (COLORS["DROP"], "DROP"),
    ]
    x = LEFT
    for color, name in legend:
        out.append(
            f'<circle cx="{x + 4}" cy="{bottom + 12}" r="4" fill="{color}"/>'
            f'<text x="{x + 12}" y="{bottom + 16}">{name}</text>'
        )
        x += 90
    out.append(
        f'<rect x="{x}" y="{bottom + 8}" width="8" height="8" fill="#fff" stroke="#24292f"/>'
        f'<text x="{x + 12}" y="{bottom + 16}">decided by a person</text>'
        f'<circle cx="{x + 170}" cy="{bottom + 12}" r="6" fill="none" stroke="{CHAMPION}" '
        f'stroke-width="2.5"/><text x="{x + 180}" y="{bottom + 16}">champion</text></svg>'
    )
    return "".join(out)


def history_chart(
    history: Sequence[float | None], best_idx: int | None = None, width: int = 220, height: int = 48
) -> str:
    """A model's fitness history as a small line chart, gaps broken, the best point marked."""
    values = [v if v is not None and math.isfinite(v) else None for v in history]
    known = [v for v in values if v is not None]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="spark" '
        f'aria-label="fitness history, {len(history)} points">'
    ]
    if not known:
        out.append(f'<text x="4" y="{height / 2 + 4}" font-size="11">no history</text></svg>')
        return "".join(out)
    low, high = min(known), max(known)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    pad = 5.0
    xs = _xs(len(values), pad, width - 2 * pad)

    def y_of(value: float) -> float:
        return pad + (height - 2 * pad) * (high - value) / (high - low)

    ys = [None if v is None else y_of(v) for v in values]
    out.append(f'<path d="{_path(list(zip(xs, ys, strict=True)))}" fill="none" stroke="{LINE}" '
               'stroke-width="1.5"/>')  # fmt: skip
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y is not None and _isolated(ys, i):
            out.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2" fill="{LINE}"/>')
    if best_idx is not None and 0 <= best_idx < len(values):
        best_y, best = ys[best_idx], values[best_idx]
        if best_y is not None and best is not None:
            out.append(
                f'<circle cx="{_num(xs[best_idx])}" cy="{_num(best_y)}" r="3.5" fill="{CHAMPION}">'
                f"<title>best: point {best_idx}, fitness {_label(best)}</title></circle>"
            )
    ends = ["-" if v is None else _label(v) for v in (values[0], values[-1])]
    out.append(
        f"<title>fitness from {ends[0]} to {ends[1]}, "
        f"range {_label(min(known))}..{_label(max(known))}</title></svg>"
    )
    return "".join(out)


def _isolated(ys: Sequence[float | None], i: int) -> bool:
    """Whether point ``i`` has no neighbour to draw a line to (so it needs a dot)."""
    before = i > 0 and ys[i - 1] is not None
    after = i + 1 < len(ys) and ys[i + 1] is not None
    return not (before or after)
