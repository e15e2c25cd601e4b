"""The crash/restart soak (benchmarks/soak.py) in its quick variant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("observer", "seed"), [("native", 11), ("polling", 12)])
def test_quick_soak(observer: str, seed: int) -> None:
    """Random SIGKILLs while a producer streams files: none lost, none doubled, all consistent."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--cycles", "8", "--files", "80",
         "--seed", str(seed), "--observer", observer, "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert (result["lost"], result["doubled"]) == (0, 0)
    assert result["crash_restart_cycles"] == 8
    assert result["runs_archived"] == result["files_produced"] == 80
    assert result["ok"] is True, result
    assert done.returncode == 0
