"""Server-side SVG charts: a symbol's four metrics across runs and a run's fitness history."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from daemon.text import visible

__all__ = [
    "COLORS",
    "METRIC_LABELS",
    "SymbolPoint",
    "history_chart",
    "nice_ticks",
    "symbol_chart",
]

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
WIDTH, LEFT, RIGHT = 760, 52, 16  # the bounds are labelled inside the plot, not beside it
PANEL, TITLE, GAP = 92, 18, 20
GRID = "#eaeef2"
MUTED = "#57606a"
_DATE_LABELS = 6  # at most this many dates under the panels


@dataclass(frozen=True, slots=True)
class SymbolPoint:
    """One run of a symbol as the chart shows it."""

    timestamp: str
    run_id: str | None
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    verdict: str = "REVIEW"
    decided: bool = False
    champion: bool = False


def _escaped(text: str) -> str:
    """Text from a file for the SVG: its invisible characters shown (as on the pages),
    then HTML-escaped."""
    return html.escape(visible(text))


def _num(value: float) -> str:
    """A coordinate with two decimals (short, exact enough for a screen)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    """A value for an axis or a tooltip."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) that cover
    ``low``..``high``: the first at or below ``low``, the last at or above ``high``."""
    if high - low < 1e-9 * max(1.0, abs(low), abs(high)):  # flat, to a float's precision
        low, high = low - 0.5, high + 0.5
    rough = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough - 1e-12)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(first + len(ticks) * step)
    return [round(t, 12) for t in ticks]


_OFF_SCALE = 1e15


def _scale(values: Sequence[float | None], bounds: Sequence[float]) -> list[float]:
    """A panel's y ticks: round values covering every finite value and both bounds (a value
    beyond ±1e15, a profit factor of 1.7e308 say, is drawn clipped at the edge instead: a
    scale that wide has no round ticks a float holds)."""
    known = [v for v in values if v is not None and abs(v) < _OFF_SCALE] + list(bounds)
    return nice_ticks(min(known, default=0.0), max(known, default=1.0))


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick's value with just the decimals its step needs (0.25, 0.5, 1.5, 100)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, min(6, -math.floor(math.log10(step) + 1e-9)))
    if step * 10**decimals % 1 > 1e-6:  # a step of 2.5 units of the last place
        decimals += 1
    return f"{value:.{decimals}f}"


def _date(timestamp: str, span: str) -> str:
    """A run's time for the x axis, as precise as the chart's ``span`` needs: its date
    (``2026-11-26``) over days, ``11-26 16:30`` within a few days, ``16:30:05`` within one."""
    t = timestamp
    if len(t) < 15 or t[8] != "T" or not t[:8].isdigit():
        return t[:12]  # not a run timestamp: shown as it is, cut
    if span == "days":
        return f"{t[0:4]}-{t[4:6]}-{t[6:8]}"
    if span == "hours":
        return f"{t[4:6]}-{t[6:8]} {t[9:11]}:{t[11:13]}"
    return f"{t[9:11]}:{t[11:13]}:{t[13:15]}"


def _span(first: str, last: str) -> str:
    """How far apart the first and last runs are: ``days``, ``hours`` or ``seconds``."""
    if not (first[:8].isdigit() and last[:8].isdigit()):
        return "days"  # not run timestamps: each is shown as it is
    if first[:8] != last[:8] and (first[:6] != last[:6] or int(last[6:8]) - int(first[6:8]) > 2):
        return "days"
    return "hours" if first[:8] != last[:8] or first[9:11] != last[9:11] else "seconds"


def _date_slots(count: int) -> list[int]:
    """The runs (indexes) whose dates label the x axis: evenly spread, first and last."""
    if count <= _DATE_LABELS:
        return list(range(count))
    return sorted({round(i * (count - 1) / (_DATE_LABELS - 1)) for i in range(_DATE_LABELS)})


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
    return f'<g class="point">{halo}{shape}<title>{_escaped(tip)}</title></g>'


def _tooltip(point: SymbolPoint, metric: str, value: float | None) -> str:
    shown = "missing" if value is None or math.isnan(value) else _label(value)
    extra = (" (decided)" if point.decided else "") + (" - champion" if point.champion else "")
    who = f" {point.run_id}" if point.run_id else ""
    return f"{point.timestamp}{who}: {METRIC_LABELS[metric]} {shown}, {point.verdict}{extra}"


def _panel(
    metric: str, points: Sequence[SymbolPoint], bounds: tuple[float, float], top: float
) -> list[str]:
    """One metric's panel: grid and ticks, bands, bound lines, the line with gaps, markers."""
    approved, drop = bounds
    values = [p.metrics.get(metric) for p in points]
    ticks = _scale(values, bounds)
    low, high = ticks[0], ticks[-1]
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
    for tick in ticks:  # a faint grid line and a round label for each tick
        at = _num(y_of(tick))
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{at}" y2="{at}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{at}" dy="4" text-anchor="end" fill="{MUTED}" '
            f'class="tick">{_tick_label(tick, ticks)}</text>'
        )
    xs = _xs(len(points), LEFT + 8, plot_w - 16)
    for i in _date_slots(len(points)):  # the x axis' runs, ticked on each panel
        out.append(
            f'<line x1="{_num(xs[i])}" x2="{_num(xs[i])}" y1="{_num(y0)}" '
            f'y2="{_num(y0 + PANEL)}" stroke="{GRID}"/>'
        )
    # The bounds: dashed lines, named on the panel's title row (clear of every marker).
    named = (("DROP", drop, ">" if lower else "<"), ("APPROVED", approved, "<=" if lower else ">="))
    right = LEFT + plot_w
    for name, bound, sign in named:
        at = _num(y_of(bound))
        out.append(
            f'<line x1="{LEFT}" x2="{right}" y1="{at}" y2="{at}" stroke="{COLORS[name]}" '
            f'stroke-dasharray="5 4" stroke-width="1.2"/>'
            f'<text x="{right}" y="{_num(top + 12)}" text-anchor="end" fill="{COLORS[name]}" '
            f'font-size="10">{name} {_escaped(sign)} {_label(bound)}</text>'
        )
        right -= 110
    ys = [y_of(v) if v is not None and not math.isnan(v) else None for v in values]
    out.append(f'<path d="{_path(list(zip(xs, ys, strict=True)))}" fill="none" stroke="{LINE}"/>')
    for x, y, value, point in zip(xs, ys, values, points, strict=True):
        if y is None:  # a gap: a faint tick on the axis says the run is there
            out.append(
                f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{_num(y0 + PANEL - 4)}" '
                f'y2="{_num(y0 + PANEL)}" stroke="{COLORS["DROP"]}"><title>'
                f"{_escaped(_tooltip(point, metric, value))}</title></line>"
            )
        else:
            out.append(_marker(x, y, point, _tooltip(point, metric, value)))
            if value is not None and math.isinf(value):  # drawn at the edge: say so
                out.append(
                    f'<text x="{_num(x + 7)}" y="{_num(y + 4)}" fill="{MUTED}">'
                    f"{_label(value)}</text>"
                )
    return out


def symbol_chart(points: Sequence[SymbolPoint], bounds: Mapping[str, tuple[float, float]]) -> str:
    """The four metrics of a symbol across runs, one panel each, as a standalone SVG."""
    height = len(METRIC_LABELS) * (TITLE + PANEL + GAP) + 52
    out = [  # as wide as its card (the viewBox scales it), never wider
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" class="chart" '
        f'aria-label="metrics across {len(points)} runs" font-family="sans-serif" '
        'font-size="11">'
    ]
    if not points:
        out.append('<text x="20" y="30">no runs</text></svg>')
        return "".join(out)
    for i, metric in enumerate(METRIC_LABELS):
        out += _panel(metric, points, bounds[metric], 4 + i * (TITLE + PANEL + GAP))
    bottom = height - 22
    xs = _xs(len(points), LEFT + 8, WIDTH - LEFT - RIGHT - 16)
    span = _span(points[0].timestamp, points[-1].timestamp)
    slots = _date_slots(len(points))
    for i in slots:  # the dates of evenly spread runs, the first and the last among them
        anchor = (
            "start" if i == slots[0] and len(slots) > 1 else "end" if i == slots[-1] else "middle"
        )
        anchor = "middle" if len(points) == 1 else anchor
        out.append(
            f'<text x="{_num(xs[i])}" y="{bottom - 12}" text-anchor="{anchor}" fill="{MUTED}" '
            f'class="date">{_escaped(_date(points[i].timestamp, span))}'
            f"<title>{_escaped(points[i].timestamp)}</title></text>"
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
    # Halved, no span overflows (±1e308); flat, every point is drawn at mid height (a flat
    # history at 1e17 was a ZeroDivisionError: low - 0.5 rounds back to low there).
    half_span = high / 2 - low / 2
    flat = half_span < 5e-13 * max(1.0, abs(high), abs(low))
    pad = 5.0
    xs = _xs(len(values), pad, width - 2 * pad)

    def y_of(value: float) -> float:
        share = 0.5 if flat else (high / 2 - value / 2) / half_span
        return pad + (height - 2 * pad) * share

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
                f"<title>best: point {best_idx + 1}, fitness {_label(best)}</title></circle>"
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
