"""A summary given as a dict, bytes or text, as the bytes archived (a dict written as JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gating.errors import SummaryError, shown

__all__ = ["summary_bytes"]

_JSON_TYPES = (str, int, float, bool, type(None))


def _unencodable(document: object) -> str | None:
    """The path of the first value JSON has no type for, in the order json meets them
    (``models.AAPL.fitness`` holding a numpy.float32, say), or None. Each container is
    entered once: a dict holding itself is json's "Circular reference", not a walk for
    ever."""
    seen: set[int] = set()
    stack: list[tuple[object, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict | list | tuple):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, dict):
                items = [(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
            else:
                items = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
            stack.extend(reversed(items))  # the first child on top: json's order
        elif not isinstance(node, _JSON_TYPES):
            return f"{path or 'file'} ({type(node).__name__})"
    return None


def _symbol_keys(data: Mapping[str, Any]) -> None:
    """SummaryError when a dict's ``models`` has a key that is not a str: JSON would make
    None the symbol "null", True "true" (a pandas group-by's None became a model)."""
    models = data.get("models")
    if isinstance(models, Mapping):
        for key in models:
            if not isinstance(key, str):
                raise SummaryError(f"models: symbol must be a non-empty string, got {shown(key)}")


def summary_bytes(data: Mapping[str, Any] | bytes | bytearray | str, max_depth: int) -> bytes:
    """The bytes a summary is archived as: bytes as given, text in UTF-8, a dict written as
    JSON (SummaryError naming what JSON cannot hold, or a symbol that is not a str)."""
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8", errors="surrogatepass")
    if isinstance(data, Mapping):
        _symbol_keys(data)
        try:
            return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as error:
            where = _unencodable(data) or "file"
            raise SummaryError(f"{where}: cannot be written as JSON: {error}") from None
        except RecursionError:
            raise SummaryError(f"file: nesting deeper than {max_depth} levels") from None
        except RuntimeError as error:  # "dictionary changed size during iteration"
            raise SummaryError(f"file: changed while it was written ({error})") from None
    raise SummaryError(f"file: expected a dict, bytes or str, got {type(data).__name__}")
