"""Pure view-models: the documents of daemon.documents shaped for the dashboard's pages."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from daemon.web.charts import METRIC_LABELS, SymbolPoint, history_chart, symbol_chart
from gating.report import FLAG_MEANINGS
from gating.rules import Flag

__all__ = [
    "CLASSES",
    "DOT_SEGMENTS",
    "RUN_PAGE_MODELS",
    "fmt",
    "home_view",
    "reason_list",
    "run_view",
    "symbol_url",
    "symbol_view",
]

CLASSES = ("APPROVED", "REVIEW", "DROP")
ACTIONS = {
    "APPROVED": "deploy to production",
    "REVIEW": "manual review required",
    "DROP": "do not deploy",
}
SIGNS = {"approved": ("≥", "≤"), "drop": ("<", ">")}


def fmt(value: Any) -> str:
    """A number as the dashboard shows it ('-' when missing, 'inf' when infinite)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


DOT_SEGMENTS = (".", "..")  # symbols a browser resolves away in a path ("/symbols/..")


def symbol_url(symbol: str) -> str:
    """The dashboard page of a symbol; every character that is not plain is escaped (and
    ``.`` or ``..``, which no escape keeps in a path, goes in the query)."""
    if symbol in DOT_SEGMENTS:
        return "/symbols/?symbol=" + quote(symbol, safe="")
    return "/symbols/" + quote(symbol, safe="")


def _with_last(url: str, last: int) -> str:
    return f"{url}{'&' if '?' in url else '?'}last={last}"


def flag_words(flags: Sequence[str]) -> list[dict[str, str]]:
    """Each flag with what it means."""
    words = {str(flag): meaning for flag, meaning in FLAG_MEANINGS.items()}
    return [{"flag": flag, "meaning": words.get(flag, flag)} for flag in flags]


def home_view(
    runs: Sequence[Mapping[str, Any]],
    total_runs: int,
    deployable: Mapping[str, Mapping[str, Any]],
    review_count: int,
    health: Mapping[str, Any],
    *,
    rejected: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The home page: champions, the queue's length, the latest runs and rejects, the health."""
    champions = [
        {
            "symbol": symbol,
            "url": symbol_url(symbol),
            "timestamp": champion.get("timestamp"),
            "run_id": champion.get("run_id"),
            "metrics": [fmt(champion.get(m)) for m in METRIC_LABELS],
            "checkpoint": fmt(champion.get("checkpoint_step"))
            if champion.get("use_checkpoint")
            else "-",
            "by": champion.get("verdict_by"),
            "reason": champion.get("reason"),
        }
        for symbol, champion in sorted(deployable.items())
    ]
    return {
        "champions": champions,
        "review_count": review_count,
        "runs": [dict(run) for run in reversed(runs)],
        "total_runs": total_runs,
        "health": health,
        "rejected": [dict(entry) for entry in reversed(rejected)],
    }


def reason_list(reasons: Any) -> list[str]:
    """A review item's reasons as a list of lines, whatever shape the library gives."""
    if reasons is None:
        return []
    if isinstance(reasons, str):
        return [reasons]
    if isinstance(reasons, Mapping):
        return [f"{key}: {value}" for key, value in reasons.items()]
    return [str(reason) for reason in reasons]


def _metric_rows(model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each metric of a model against its bounds, with the band it falls in."""
    rows = []
    for name, label in METRIC_LABELS.items():
        check = model["metrics"][name]
        lower = name == "max_drawdown"
        approved_sign, drop_sign = SIGNS["approved"][lower], SIGNS["drop"][lower]
        rows.append(
            {
                "name": label,
                "value": fmt(check["value"]),
                "band": check["band"],
                "approved": f"{approved_sign} {fmt(check['approved_threshold'])}",
                "drop": f"{drop_sign} {fmt(check['review_threshold'])}",
            }
        )
    return rows


def _advice(model: Mapping[str, Any]) -> str | None:
    """Checkpoint advice in words, when the run declined from an earlier peak."""
    if not model.get("use_checkpoint"):
        return None
    step, best = model.get("checkpoint_step"), model.get("best_idx")
    # Counted from 1, as recommendations.md counts them (the 2nd point: step 2 x interval).
    where = "the best validation point" if best is None else f"validation point {best + 1}"
    if step is not None:
        return f"restore the checkpoint at step {step:,} ({where})"
    return f"restore the checkpoint of {where} (no validation_interval to give a step)"


RUN_PAGE_MODELS = 200  # models of each class a run's page shows; the API has them all


def run_view(
    record: Mapping[str, Any], verdicts: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """A run's page: its models by class, each metric against its bounds, flags, charts;
    the first RUN_PAGE_MODELS of each class (a run of 100,000 models made a 142 MB page,
    and four clients asking for it took the server to 3.5 GB)."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in CLASSES}
    more = dict.fromkeys(CLASSES, 0)
    for model in record["models"]:
        if len(groups[model["classification"]]) == RUN_PAGE_MODELS:
            more[model["classification"]] += 1
            continue
        symbol = model["symbol"]
        decision = verdicts.get(symbol)
        groups[model["classification"]].append(
            {
                "symbol": symbol,
                "url": symbol_url(symbol),
                "classification": model["classification"],
                "verdict": (decision or {}).get("verdict") or model["classification"],
                "decision": decision,
                "metrics": _metric_rows(model),
                "flags": flag_words(model["flags"]),
                "advice": _advice(model),
                "chart": history_chart(model["fitness_history"], model["best_idx"]),
                "points": len(model["fitness_history"]),
            }
        )
    return {
        "timestamp": record["timestamp"],
        "run_id": record.get("run_id"),
        "source": record.get("source"),
        "created_at": record.get("created_at"),
        "sha256": record.get("summary_sha256"),
        "counts": record["counts"],
        "groups": [
            {"name": name, "action": ACTIONS[name], "models": models, "more": more[name]}
            for name, models in groups.items()
            if models
        ],
    }


def _verdict(record: Mapping[str, Any]) -> str:
    verdict = record.get("verdict") or record.get("classification")
    return str(verdict)


def symbol_view(
    symbol: str,
    records: Sequence[Mapping[str, Any]],
    total: int,
    bounds: Mapping[str, tuple[float, float]],
    *,
    champion: str | None,
    shown: int,
) -> dict[str, Any]:
    """A symbol's page: the chart of its newest runs and the table beneath, newest first."""
    points = [
        SymbolPoint(
            timestamp=record["timestamp"],
            run_id=record.get("run_id"),
            metrics={name: record.get(name) for name in METRIC_LABELS},
            verdict=_verdict(record),
            decided=record.get("decision") is not None,
            champion=record["timestamp"] == champion,
        )
        for record in records
    ]
    rows = [
        {
            "timestamp": record["timestamp"],
            "run_id": record.get("run_id"),
            "classification": record.get("classification"),
            "verdict": _verdict(record),
            "decision": record.get("decision"),
            "champion": record["timestamp"] == champion,
            "metrics": [fmt(record.get(name)) for name in METRIC_LABELS],
            "flags": ", ".join(record.get("flags") or []) or "-",
            "checkpoint": fmt(record.get("checkpoint_step"))
            if record.get("use_checkpoint")
            else "-",
        }
        for record in reversed(records)
    ]
    more = min(total, shown * 4) if total > len(records) else None
    return {
        "symbol": symbol,
        "chart": symbol_chart(points, bounds),
        "rows": rows,
        "total": total,
        "shown": len(records),
        "more": more,
        # The page's own address with ?last=: ".." lives in the query (see symbol_url).
        "more_url": None if more is None else _with_last(symbol_url(symbol), more),
        "champion": champion,
        "flags": [str(flag) for flag in Flag],
    }
