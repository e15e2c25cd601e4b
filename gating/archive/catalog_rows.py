"""The catalog's rows and the JSON lines made from them: index.json's and history's."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from gating.errors import ArchiveError, shown
from gating.rules import METRICS, Classification, Flag

__all__ = [
    "RunRow",
    "checked_entry",
    "entry_rows",
    "history_record",
    "json_object",
    "model_body",
    "model_object",
    "run_id_json",
    "run_line",
    "stored",
]

_T = TypeVar("_T")


def stored(text: str | bytes, what: str, build: Callable[[Any], _T]) -> _T:
    """``build`` of a JSON value the archive stored (a model's body, a run's record);
    ArchiveError, one line, when it is not JSON or not of our shape (a row written by
    hand into a shared database: it was a traceback)."""
    try:
        return build(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
        raise ArchiveError(f"{what}: the stored value cannot be read ({error!r})") from None


# Every key a model's body has (index_entry writes them): the history's readers use each.
_BODY_KEYS = (
    "classification", "flags", "fitness", "profit_factor", "consistency", "max_drawdown",
    "use_checkpoint", "best_idx", "checkpoint_step",
)  # fmt: skip


def model_object(value: Any) -> dict[str, Any]:
    """A stored model's body: an object with every key of _BODY_KEYS (TypeError or
    KeyError otherwise: see ``stored``)."""
    body = json_object(value)
    missing = [key for key in _BODY_KEYS if key not in body]
    if missing:
        raise KeyError(f"no {missing[0]!r}")
    return body


def json_object(value: Any) -> dict[str, Any]:
    """A stored value that must be a JSON object (TypeError otherwise: see ``stored``)."""
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


# A run's row: timestamp, sha256, run_id, source, approved, review, dropped.
RunRow = tuple[str, str, str | None, str | None, int, int, int]


def _dumps(value: Any) -> str:
    """JSON text as orjson writes it, or the standard encoder where orjson cannot be
    faithful (it writes Infinity as null, and refuses integers beyond 64 bits)."""
    # Imported where rows are written, never by the read queries: importing orjson costs a
    # cold query ~12 ms (it loads uuid, platform and more), a tenth of its time.
    import orjson  # noqa: PLC0415

    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False)
    if "null" in text and _has_non_finite(value):
        return json.dumps(value, ensure_ascii=False)
    return text


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(item) for item in value)
    return False


def model_body(model: dict[str, Any]) -> str:
    """A model's object as index.json and history records write it."""
    return _dumps(model)


def run_line(row: RunRow, models: Iterable[tuple[str, str]]) -> bytes:
    """A run's line of index.json from its row and its (symbol, body) pairs in order."""
    timestamp, sha256, run_id, source, approved, review, dropped = row
    head = {
        "timestamp": timestamp,
        "run_id": run_id,
        "sha256": sha256,
        "source": source,
        "approved": approved,
        "review": review,
        "dropped": dropped,
    }
    import orjson  # noqa: PLC0415 - see _dumps

    models = list(models)
    try:  # one call: the bodies are JSON already, and the row holds no float
        inner = {symbol: orjson.Fragment(body) for symbol, body in models}
        return orjson.dumps({**head, "models": inner})
    except orjson.JSONEncodeError:  # a lone surrogate, say: the standard encoder below
        pass
    text = _dumps(head)
    pairs = ",".join(f"{_dumps(symbol)}:{body}" for symbol, body in models)
    return f'{text[:-1]},"models":{{{pairs}}}}}'.encode()


def run_id_json(value: str | None) -> str:
    """A run_id as JSON, as _dumps writes it; a plain one without loading orjson."""
    if value is None:
        return "null"
    if isinstance(value, str) and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # nothing to escape: the same text orjson writes
    return _dumps(value)


def history_record(timestamp: str, run_id: str | None, body: str, end: str = "}") -> bytes:
    """One history record: the run's timestamp and run_id, the model's fields, then ``end``.

    ``end`` closes the object: ``}``, or more keys first (the verdict, see verdict_suffix).
    """
    head = f'{{"timestamp":"{timestamp}","run_id":{run_id_json(run_id)},'
    return (head + body[1:] if end == "}" else head + body[1:-1] + end).encode()


_CLASSES = frozenset(Classification)
_FLAGS = frozenset(Flag)
_COUNT = range(2**63)  # what a catalog's INTEGER holds


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{what} is {shown(value)}")


def checked_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An index entry read from a run folder, each field of the type its catalog rows and
    the pages take; ValueError naming the first that is not (a record edited by hand: a
    null symbol failed every rebuild of the catalog, a bad flag made the run's page a 500)."""
    for key in ("timestamp", "sha256"):
        _check(isinstance(entry[key], str), key, entry[key])
    for key in ("run_id", "source"):
        _check(entry[key] is None or isinstance(entry[key], str), key, entry[key])
    for key in ("approved", "review", "dropped"):
        _check(_is_int(entry[key]) and entry[key] in _COUNT, f"its {key} count", entry[key])
    for symbol, model in json_object(entry["models"]).items():
        _check(isinstance(symbol, str), "a model's symbol", symbol)
        body = json_object(model)
        kind, flags = body["classification"], body["flags"]
        fine = {
            "classification": isinstance(kind, str) and kind in _CLASSES,
            "flags": isinstance(flags, list)
            and all(isinstance(f, str) and f in _FLAGS for f in flags),
            **{name: body[name] is None or _is_number(body[name]) for name in METRICS},
            "use_checkpoint": isinstance(body["use_checkpoint"], bool),
            "best_idx": body["best_idx"] is None or _is_int(body["best_idx"]),
            "checkpoint_step": body["checkpoint_step"] is None or _is_int(body["checkpoint_step"]),
        }
        for key, ok in fine.items():
            _check(ok, f"model {shown(symbol)}: {key}", body[key])
    return entry


def entry_rows(entry: dict[str, Any]) -> tuple[RunRow, list[tuple[str, str, int, str, str]]]:
    """The catalog rows of one index entry: the run, and each model in summary order."""
    timestamp = entry["timestamp"]
    run: RunRow = (
        timestamp,
        entry["sha256"],
        entry["run_id"],
        entry["source"],
        entry["approved"],
        entry["review"],
        entry["dropped"],
    )
    models = [
        (symbol, timestamp, position, model["classification"], model_body(model))
        for position, (symbol, model) in enumerate(entry["models"].items())
    ]
    return run, models
