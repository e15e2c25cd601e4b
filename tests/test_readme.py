"""The README's library example runs as printed and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_library_example_runs_as_printed() -> None:
    """Each `# value` comment after a print in the example matches what it printed."""
    text = README.read_text("utf-8")
    code = re.search(r"## The library.*?```python\n(.*?)```", text, re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed[0].endswith(" 1 0 1")
    assert printed[1:] == [
        "['AAPL']",
        "20000",
        "(<Classification.APPROVED: 'APPROVED'>, [], False, 2)",
    ]


def test_reviewing_example_prints_what_its_comments_say() -> None:
    """Each print in the "Reviewing and deploying" example prints its ``# comment``."""
    text = README.read_text("utf-8")
    code = re.search(r"## Reviewing and deploying.*?```python\n(.*?)```", text, re.S)
    assert code is not None
    expected = [
        line.split("  # ", 1)[1]
        for line in code.group(1).splitlines()
        if line.lstrip().startswith("print(") and "  # " in line
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), {})
    assert len(expected) == 7
    assert out.getvalue().splitlines() == expected
