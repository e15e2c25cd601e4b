"""The bytes of a run's model_assessments.json, rendered from its record (pure)."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import orjson

__all__ = ["render_record"]


def _finite_numbers(record: dict[str, Any]) -> bool:
    """Whether the record's summary-given floats (reward scale, metric values, fitness
    histories) are all finite: their sum is, unless one is infinite or NaN, or the sum
    overflows (then the record is simply written the slow way)."""
    total = record["reward_scale"] or 0.0
    for model in record["models"]:
        total += sum(filter(None, model["fitness_history"]))
        total += sum(filter(None, [check["value"] for check in model["metrics"].values()]))
        if (champion := model.get("champion")) is not None:
            total += sum(filter(None, (champion["metrics"] or {}).values()))
            total += sum(filter(None, champion["step_back"].values()))
    return math.isfinite(total)


def render_record(record: dict[str, Any]) -> bytes:
    """model_assessments.json: the run's fields, then one model per line.

    orjson writes it. A record orjson cannot write faithfully (it turns Infinity into
    null, and refuses integers beyond 64 bits) is written by the standard encoder, with
    Python's JSON ``Infinity``.
    """
    head = {key: value for key, value in record.items() if key != "models"}
    if _finite_numbers(record):
        try:
            # Each model appended as it is dumped: orjson's bytes keep 4 KiB allocated
            # however short, so a list of them held 205 MB for 50,000 models (28 written).
            written = io.BytesIO()
            written.write(orjson.dumps(head)[:-1] + b',"models":[\n')
            for index, model in enumerate(record["models"]):
                written.write(b",\n" if index else b"")
                written.write(orjson.dumps(model))
            written.write(b"\n]}\n")
            return written.getvalue()  # no copy: the buffer becomes the bytes
        except orjson.JSONEncodeError:
            pass
    text = ",\n".join(json.dumps(model, ensure_ascii=False) for model in record["models"])
    return (json.dumps(head, ensure_ascii=False)[:-1] + f', "models": [\n{text}\n]}}\n').encode()
