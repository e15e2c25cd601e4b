"""The README's "Policies" example runs as printed and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_policies_example_prints_what_its_comments_say() -> None:
    """Each print in the "Policies" example prints its ``# comment``."""
    text = README.read_text("utf-8")
    code = re.search(r"## Policies.*?```python\n(.*?)```", text, re.S)
    assert code is not None
    expected = [
        line.split("  # ", 1)[1]
        for line in code.group(1).splitlines()
        if line.lstrip().startswith("print(") and "  # " in line
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), {})
    assert len(expected) == 4
    assert out.getvalue().splitlines() == expected


def test_the_config_example_is_valid() -> None:
    """The [gating.champion] example in the README is a table the config accepts."""
    import tomllib

    from gating import ModelGatingConfig

    text = README.read_text("utf-8")
    block = re.search(r"## Policies.*?```toml\n(.*?)```", text, re.S)
    assert block is not None
    config = ModelGatingConfig.from_mapping(tomllib.loads(block.group(1))["gating"])
    assert dict(config.champion_tolerances) == {"fitness": 0.02, "max_drawdown": 0.10}
