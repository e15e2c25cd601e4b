"""Checks of what the library's query and review calls are given (ArgumentError naming it)."""

from __future__ import annotations

import operator
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from gating.errors import ArgumentError, GatingError, shown, text_problem

if TYPE_CHECKING:
    from gating.thresholds import ModelGatingConfig

T = TypeVar("T")

__all__ = [
    "callback",
    "count",
    "folder",
    "gating_config",
    "maybe_text",
    "source",
    "summaries",
    "text",
    "workers",
]

SOURCE_CHARS = 4096  # the longest source kept: a Linux path's limit
MAX_WORKERS = 256  # processes regate may be asked for

_ALL = 2**62  # a ``last`` past every run the catalog could hold: all of them


def count(name: str, value: object) -> int | None:
    """``value`` as a ``last``: None (all), or a whole number from 0 (a numpy integer too);
    a number past every run is all of them. A float, a str or a bool is refused: a wrong
    type reached the catalog as a failed statement, which was taken for damage."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ArgumentError(f"{name}: {value} is not a whole number")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ArgumentError(f"{name}: {shown(value)} is not a whole number") from None
    if number < 0:
        raise ArgumentError(f"{name}: {number} is negative")
    return min(number, _ALL)


def workers(value: object) -> int | None:
    """``workers=``: None (the default), or a whole number from 1 to MAX_WORKERS (a
    process pool forks them all at once: 10**30 was a fork bomb)."""
    number = count("workers", value)
    if number is not None and not 1 <= number <= MAX_WORKERS:
        raise ArgumentError(f"workers: {value}, from 1 to {MAX_WORKERS}")
    return number


def callback(name: str, value: T | None) -> T | None:
    """``progress=`` or ``cancelled=``: None, or something to call (an int was called
    mid-rebuild: a bare TypeError)."""
    if value is not None and not callable(value):
        raise ArgumentError(f"{name}: {shown(value)} is not a function")
    return value


def summaries(value: T) -> T:
    """``archive_training_runs``'s summaries: an iterable of them, not one summary (a dict
    was read key by key, each key "not valid JSON")."""
    if isinstance(value, str | bytes | bytearray | Mapping | os.PathLike) or not isinstance(
        value, Iterable
    ):
        raise ArgumentError(
            f"summaries: a {type(value).__name__}, not a list of summaries "
            "(archive_training_run takes one)"
        )
    return value


def text(name: str, value: object, error: type[GatingError] = ArgumentError) -> str:
    """``value`` as text a file or a database can hold (a symbol, a timestamp, a
    decision's reason): ``error`` naming it when it is not a str, or holds a NUL or a lone
    surrogate."""
    if not isinstance(value, str):
        raise error(f"{name}: {shown(value)} is not text (type {type(value).__name__})")
    problem = text_problem(value)
    if problem is not None:
        raise error(f"{name}: {shown(value)} {problem}")
    return value


def maybe_text(name: str, value: object) -> str | None:
    """``text``, or None."""
    return None if value is None else text(name, value)


def folder(name: str, value: object) -> str:
    """``value`` as a folder's path: a str or an os.PathLike, without a NUL."""
    if not isinstance(value, str | os.PathLike):
        raise ArgumentError(f"{name}: {shown(value)} is not a path (type {type(value).__name__})")
    path = os.fspath(value)
    if not isinstance(path, str) or "\x00" in path:
        raise ArgumentError(f"{name}: {shown(value)} is not a folder's path")
    return path


def gating_config(name: str, value: object) -> ModelGatingConfig | None:
    """``value`` as the gating rules: a ModelGatingConfig, or None (the defaults). A dict
    was taken, and every run then failed at its first gate."""
    from gating.thresholds import ModelGatingConfig  # noqa: PLC0415 - loaded by the archive anyway

    if value is None or isinstance(value, ModelGatingConfig):
        return value
    raise ArgumentError(
        f"{name}: a {type(value).__name__}, not a ModelGatingConfig "
        "(ModelGatingConfig.from_mapping reads a dict)"
    )


def source(value: object) -> str | None:
    """``source=`` as text: a path (str, bytes or os.PathLike: a Path crashed the render
    after the summary was accepted), at most SOURCE_CHARS long, without a NUL."""
    if value is None:
        return None
    if not isinstance(value, str | bytes | os.PathLike):
        raise ArgumentError(f"source: {shown(value)} is not a path (type {type(value).__name__})")
    name = os.fsdecode(value)
    if "\x00" in name:
        raise ArgumentError("source: holds a NUL character (\\u0000), not a path")
    if len(name) > SOURCE_CHARS:
        raise ArgumentError(f"source: {len(name)} characters, at most {SOURCE_CHARS}")
    return name
