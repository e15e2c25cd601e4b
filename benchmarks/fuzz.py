"""Fuzz the summary parser and gating: mutated summaries must be prepared or SummaryError.

Mutations of valid summaries (byte flips, truncation, splices, deep nesting, odd numbers
and strings) plus random bytes, each parsed, gated and rendered (``prepare``, which writes
nothing). Anything but a prepared run or the library's own SummaryError is a failure.

    python -m benchmarks.fuzz -n 200000           # a long run
    python -m benchmarks.fuzz -n 2000 --json      # the smoke run CI does
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from benchmarks.common import run_main
from benchmarks.throughput import make_summaries
from gating import SummaryError, TrainingArchiveManager

TOKENS = [
    *(b"NaN", b"Infinity", b"-Infinity", b"null", b"true", b"[]", b"{}", b'""', b"1e999"),
    *(b"-0", b"85", b"\xff", b"\xef\xbb\xbf", b"[" * 80, b'{"a":' * 70, b'"\\ud800"'),
    *(b"1" + b"0" * 400, b"123456789012345678901234567890", b"\\udc00", b'"x":1, "x":', b":"),
]

SOURCES = ["/in/run_summary.json", "/in/\udcff_summary.json"]  # the second: an undecodable byte


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of ``data``."""
    kind = rng.randrange(6)
    at = rng.randrange(len(data) + 1)
    if kind == 0:  # flip a byte
        if not data:
            return data
        at = min(at, len(data) - 1)
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    if kind == 1:  # truncate
        return data[:at]
    if kind == 2:  # insert a token
        return data[:at] + rng.choice(TOKENS) + data[at:]
    if kind == 3:  # replace a number with a token
        return data.replace(b"0.", rng.choice(TOKENS) + b" ", 1)
    if kind == 4:  # splice two places
        other = rng.randrange(len(data) + 1)
        return data[: min(at, other)] + data[max(at, other) :]
    return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))


def fuzz(count: int, seed: int, where: Path) -> dict[str, object]:
    """Run ``count`` cases against an archive in ``where``; return outcomes and failures."""
    manager = TrainingArchiveManager(where / "archive")
    rng = random.Random(seed)
    seeds = make_summaries(20, seed)
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    started = time.perf_counter()
    for _ in range(count):
        data = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            data = mutate(data, rng)
        try:
            manager.prepare(data, source=rng.choice(SOURCES))
        except SummaryError:
            outcomes["rejected"] += 1
        except Exception:  # anything else is the bug we are looking for
            failures.append(traceback.format_exc(limit=3) + repr(data[:200]))
        else:
            outcomes["valid"] += 1
    return {"cases": count, "seconds": round(time.perf_counter() - started, 1),
            **outcomes, "failures": len(failures), "first_failure": failures[:1]}  # fmt: skip


def main() -> int:
    """Parse the arguments, fuzz, print; exit 1 if anything but SummaryError escaped."""

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-n", type=int, default=100_000, help="cases to run")
        parser.add_argument("--seed", type=int, default=1)

    return run_main(
        __doc__,
        lambda args, where: fuzz(args.n, args.seed, where),
        arguments,
        passed=lambda result: not result["failures"],
    )


if __name__ == "__main__":
    sys.exit(main())
