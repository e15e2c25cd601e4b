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
