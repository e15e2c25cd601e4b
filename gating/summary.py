"""Parsing and validating run summaries (JSON) into frozen dataclasses."""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gating.errors import IncompleteSummaryError, SummaryError, shown, text_problem
from gating.rules import METRICS, ModelMetrics, checked_history, checked_metric, to_float
from gating.summary_bytes import summary_bytes
from gating.thresholds import DEFAULT_MAX_BYTES

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_TEXT_CHARS",
    "Summary",
    "check_names",
    "parse_summary",
]

MAX_DEPTH = 64
MAX_TEXT_CHARS = 1000  # a symbol, run id or created_at: names, not documents
# ... and as UTF-8 at most this: a shared archive indexes symbols, and a PostgreSQL index
# row holds at most 2,704 bytes (1,000 four-byte characters were retried for ever).
MAX_TEXT_BYTES = 2000
_SHOWN_SYMBOL = 40
# Each digit as "0", anything else as " ": a run of 19 digits is then a run of 19 zeros.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGITS = b"0" * 19  # 2**63 has 19 digits: an integer orjson cannot hold has as many

# Each metric's canonical key first, then the aliases accepted for it.
_KEYS: dict[str, tuple[str, ...]] = {
    "fitness": ("fitness", "final_fitness"),
    "profit_factor": ("profit_factor", "pf", "final_pf"),
    "consistency": ("consistency", "final_consistency"),
    "max_drawdown": ("max_drawdown", "max_dd", "final_max_dd"),
    "fitness_history": ("fitness_history", "history"),
}
_ALIASES = frozenset(key for keys in _KEYS.values() for key in keys[1:])  # the other names


@dataclass(frozen=True, slots=True)
class Summary:
    """A validated run summary together with the exact bytes it came from."""

    models: tuple[ModelMetrics, ...]
    raw: bytes
    sha256: str
    run_id: str | None = None
    created_at: str | None = None
    validation_interval: int | None = None
    reward_scale: float | None = None


class _Duplicates(dict[str, Any]):
    """A JSON object in which some key appeared more than once."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    marked = _Duplicates(result)
    marked.duplicates = []
    for key, _ in pairs:
        if key in seen:
            marked.duplicates.append(key)
        seen.add(key)
    return marked


def _depth_exceeds(document: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list | tuple):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _plain_document(raw: bytes) -> dict[str, Any] | None:
    """orjson's parse of ``raw`` when it is certainly what the standard parser gives, else None.

    orjson keeps the last of duplicate keys silently, so the keys are counted: each
    key/value pair has one colon, and an object outside an array one opening brace. When
    the document holds as many pairs and objects as ``raw`` holds colons and braces, no
    key was repeated. Colons in the top level's strings (a ``created_at`` time) are
    discounted when ``raw`` has no escapes (so each is a colon of ``raw``); any other
    colon or brace inside a string sends the file to the standard parser. orjson reads
    an integer beyond 64 bits as a float: ``raw`` with a run of 19 digits or more (every
    such integer has one) is left to the standard parser (a metric of
    -9223372036854775809 was quoted as a float), and so is a float
    ``validation_interval``, the one field that must be an integer.
    """
    if raw.translate(_DIGITS_AS_ZEROS).find(_LONG_DIGITS) >= 0:  # in C: ~5 us for 6 kB
        return None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # NaN, Infinity, a BOM, bad JSON: the standard parser decides
    if type(document) is not dict or type(document.get("validation_interval")) is float:
        return None
    pairs = objects = 0
    stack = [document]
    while stack:
        node = stack.pop()
        objects += 1
        pairs += len(node)
        stack.extend(value for value in node.values() if type(value) is dict)
    colons = raw.count(b":")
    if colons != pairs and b"\\" not in raw:
        strings = [*document, *(value for value in document.values() if type(value) is str)]
        colons -= sum(text.count(":") for text in strings)
    if pairs != colons or objects != raw.count(b"{"):
        return None
    return document


_LITERALS = ("null", "true", "false", "NaN", "Infinity", "-Infinity")
_NUMBER_START = re.compile(r"-?[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]*)?")


def _ends_early(text: str, error: json.JSONDecodeError) -> bool:
    """Whether JSON failed only because the text stopped: what is left at the error is
    nothing, or the start of a string, an escape, a literal or a number (a writer may
    still be writing the file)."""
    if error.msg.startswith("Unterminated string"):
        return True
    if error.msg.startswith(("Extra data", "Invalid control character")):
        return False  # a whole document with more after it; a raw newline in a string
    rest = text[error.pos :].rstrip()
    if error.msg.startswith("Invalid \\uXXXX escape"):
        # Raised too for a whole escape that ends the text: the string is cut after it.
        return len(rest.lstrip("\\")) <= len("u0000")
    return (
        not rest
        or any(word.startswith(rest) for word in _LITERALS)
        or _NUMBER_START.fullmatch(rest) is not None
    )


def _decode(raw: bytes, max_bytes: int) -> Any:
    if len(raw) > max_bytes:
        raise SummaryError(f"file: {len(raw)} bytes is larger than max_file_bytes ({max_bytes})")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SummaryError("file: encoded as UTF-16, expected UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # The decoder counts after the byte-order mark, if any; the file's offsets do not.
        at = error.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
        cut = error.reason == "unexpected end of data" and at + error.end - error.start == len(raw)
        if cut:
            raise IncompleteSummaryError(
                f"file: stops inside a character (offset {at}), cut off or still being written"
            ) from None
        raise SummaryError(f"file: not UTF-8 (byte 0x{raw[at]:02x} at offset {at})") from None
    if not text.strip():
        raise IncompleteSummaryError("file: empty (still being written?)")
    document = _plain_document(raw)
    if document is None:
        try:
            document = json.loads(text, object_pairs_hook=_pairs)
        except json.JSONDecodeError as error:
            where = f"{error.msg} (line {error.lineno}, column {error.colno})"
            if _ends_early(text, error):
                raise IncompleteSummaryError(
                    f"file: its JSON stops short, cut off or still being written: {where}"
                ) from None
            raise SummaryError(f"file: not valid JSON: {where}") from None
        except RecursionError:
            raise SummaryError(f"file: nesting deeper than {MAX_DEPTH} levels") from None
        except ValueError:  # an integer of more digits than int() reads (4,300)
            raise SummaryError(
                f"file: a number has more than {sys.get_int_max_str_digits()} digits"
            ) from None
    # Cheap first: a document with few brackets cannot nest deeply (the usual case).
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > MAX_DEPTH and _depth_exceeds(document, MAX_DEPTH):
        raise SummaryError(f"file: nesting deeper than {MAX_DEPTH} levels")
    return document


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _expect_object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SummaryError(f"{path}: expected an object, got {_type_name(value)}")
    if isinstance(value, _Duplicates):
        raise SummaryError(f"{path}: duplicate key {shown(value.duplicates[0])}")
    return value


def _pick(
    model: dict[str, Any], field: str, path: str, plain: bool = False
) -> tuple[str, Any] | None:
    if plain:  # no other name in the model (the usual case): only the field's own
        return (field, model[field]) if field in model else None
    present = [key for key in _KEYS[field] if key in model]
    if len(present) > 1:
        raise SummaryError(f"{path}: both {present[0]!r} and {present[1]!r} given")
    return (present[0], model[present[0]]) if present else None


def _history(value: object, path: str) -> tuple[float | None, ...]:
    if not isinstance(value, list | tuple):
        raise SummaryError(f"{path}: expected an array of numbers, got {_type_name(value)}")
    return checked_history(value, path)


def _model(symbol: str, model: dict[str, Any], path: str) -> ModelMetrics:
    values: dict[str, float | None] = {}
    plain = _ALIASES.isdisjoint(model)
    for metric in METRICS:
        found = _pick(model, metric, path, plain)
        if found is None:
            also = ", ".join(_KEYS[metric][1:])
            later = METRICS[METRICS.index(metric) + 1 :]
            rest = [m for m in later if not any(key in model for key in _KEYS[m])]
            more = f"; also missing: {', '.join(rest)}" if rest else ""  # one round of fixes
            raise SummaryError(f"{path}.{metric}: missing (also accepted: {also}){more}")
        key, value = found
        values[metric] = checked_metric(metric, value, f"{path}.{key}")
    found = _pick(model, "fitness_history", path, plain)
    history = () if found is None or found[1] is None else _history(found[1], f"{path}.{found[0]}")
    return ModelMetrics(symbol=symbol, fitness_history=history, **values)


def _unicode(value: str, path: str) -> str:
    """The string, unless it cannot be kept as text (``text_problem``: a shared archive
    could neither take the run nor reject it; both archives refuse it alike)."""
    if (problem := text_problem(value)) is not None:
        raise SummaryError(f"{path}: {shown(value)} {problem}")
    return value


def _symbol(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SummaryError(f"{path}: symbol must be a non-empty string, got {shown(value)}")
    return _unicode(value, path)


def _model_path(symbol: str) -> str:
    """Where a model's errors point: ``models.AAPL`` (a very long symbol cut short)."""
    return f"models.{symbol if len(symbol) <= _SHOWN_SYMBOL else symbol[:_SHOWN_SYMBOL] + '…'}"


def _models(value: object) -> tuple[ModelMetrics, ...]:
    models: list[ModelMetrics] = []
    if isinstance(value, dict):
        for symbol, model in _expect_object(value, "models").items():
            path = _model_path(_symbol(symbol, "models"))
            models.append(_model(symbol, _expect_object(model, path), path))
    elif isinstance(value, list | tuple):
        seen: set[str] = set()
        for index, item in enumerate(value):
            model = _expect_object(item, f"models[{index}]")
            symbol = _symbol(model.get("symbol"), f"models[{index}].symbol")
            if symbol in seen:
                raise SummaryError(f"models[{index}].symbol: duplicate symbol {shown(symbol)}")
            seen.add(symbol)
            models.append(_model(symbol, model, _model_path(symbol)))
    else:
        raise SummaryError(f"models: expected an object or an array, got {_type_name(value)}")
    if not models:
        raise SummaryError("models: no models")
    return tuple(models)


def _optional(document: dict[str, Any], key: str, kind: type | tuple[type, ...], label: str) -> Any:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SummaryError(f"{key}: expected {label}, got {_type_name(value)}")
    return _unicode(value, key) if isinstance(value, str) else value


def check_names(summary: Summary) -> Summary:
    """The summary, unless a symbol, its run id or created_at is longer than MAX_TEXT_CHARS
    or MAX_TEXT_BYTES in UTF-8 (SummaryError): a run id of a million characters slowed
    every review query to 5 s. Archiving checks this; re-gating a run archived before the
    limit does not."""
    named = [("run_id", summary.run_id), ("created_at", summary.created_at)]
    for path, text in [*named, *(("models", m.symbol) for m in summary.models)]:
        if text is None:
            continue
        if len(text) > MAX_TEXT_CHARS:
            raise SummaryError(
                f"{path}: {shown(text)} is {len(text):,} characters long, "
                f"at most {MAX_TEXT_CHARS:,}"
            )
        if len(text) * 4 > MAX_TEXT_BYTES and len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise SummaryError(
                f"{path}: {shown(text)} is {len(text.encode('utf-8')):,} bytes long in UTF-8, "
                f"at most {MAX_TEXT_BYTES:,}"
            )
    return summary


_STEP_LIMIT = 2**63  # a checkpoint step is a signed 64-bit integer (SQLite's, PostgreSQL's)


def _check_steps(interval: int, models: tuple[ModelMetrics, ...]) -> None:
    """SummaryError when a checkpoint step, (best_idx + 1) * interval, could pass
    _STEP_LIMIT: such a run was archived, then its record read back with the step as a
    float, and the run left out as damaged from every query after a reindex."""
    points = max((len(m.fitness_history) for m in models), default=0)
    if interval * points >= _STEP_LIMIT:
        raise SummaryError(
            f"validation_interval: {interval} is too large: a checkpoint step would pass "
            f"2**63 - 1 ({points} validations)"
        )


def parse_summary(
    data: Mapping[str, Any] | bytes | bytearray | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    sha256: str | None = None,
) -> Summary:
    """Validate a summary given as a dict, raw bytes or text; raise SummaryError if invalid.

    A dict is encoded (the archived copy) and validated as those bytes are read back, as
    a file of them would be: validated as it was, the dict's values could differ from the
    bytes kept (a thread changing it meanwhile), and keys 1 and "1" made a summary.json
    that re-gating refused; ``sha256``, when the caller already hashed the bytes, is
    trusted.
    """
    raw = summary_bytes(data, MAX_DEPTH)
    document = _expect_object(_decode(raw, max_bytes), "top level")
    if "models" not in document:
        raise SummaryError("models: missing")
    interval = _optional(document, "validation_interval", int, "a positive integer")
    if interval is not None and interval <= 0:
        raise SummaryError(f"validation_interval: {interval} is not a positive integer")
    scale = _optional(document, "reward_scale", (int, float), "a number")
    run_id = _optional(document, "run_id", str, "a string")
    created_at = _optional(document, "created_at", str, "a string")
    models = _models(document["models"])
    if interval is not None:
        _check_steps(interval, models)
    return Summary(
        models=models,
        raw=raw,
        sha256=sha256 or hashlib.sha256(raw).hexdigest(),
        run_id=run_id,
        created_at=created_at,
        validation_interval=interval,
        reward_scale=None if scale is None else to_float(scale),
    )
