"""The docs' examples (library, reviewing, policies) run and print what their comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_library_example_runs_as_printed() -> None:
    """Each `# value` comment after a print in the example matches what it printed."""
    text = (DOCS / "library.md").read_text("utf-8")
    code = re.search(r"# The library.*?```python\n(.*?)```", text, re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "docs", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed[0].endswith(" 1 0 1")
    assert printed[1:] == [
        "['AAPL']",
        "20000",
        "(<Classification.APPROVED: 'APPROVED'>, [], False, 2)",
    ]


def _example_and_comments(page: str, heading: str) -> tuple[list[str], list[str]]:
    """Run a page's first Python example; return (what it printed, what its comments say)."""
    text = (DOCS / page).read_text("utf-8")
    code = re.search(rf"# {heading}.*?```python\n(.*?)```", text, re.S)
    assert code is not None
    expected = [
        line.split("  # ", 1)[1]
        for line in code.group(1).splitlines()
        if line.lstrip().startswith("print(") and "  # " in line
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), page, "exec"), {})
    return out.getvalue().splitlines(), expected


@pytest.mark.parametrize(
    ("page", "heading", "prints"),
    [("review-and-deploy.md", "Reviewing and deploying", 7), ("policies.md", "Policies", 4)],
)
def test_an_example_prints_what_its_comments_say(page: str, heading: str, prints: int) -> None:
    """Each print in the example prints its ``# comment``."""
    printed, expected = _example_and_comments(page, heading)
    assert len(expected) == prints
    assert printed == expected


def test_the_config_example_is_valid() -> None:
    """The [gating.champion] example on the Policies page is a table the config accepts."""
    import tomllib

    from gating import ModelGatingConfig

    text = (DOCS / "policies.md").read_text("utf-8")
    block = re.search(r"# Policies.*?```toml\n(.*?)```", text, re.S)
    assert block is not None
    config = ModelGatingConfig.from_mapping(tomllib.loads(block.group(1))["gating"])
    assert dict(config.champion_tolerances) == {"fitness": 0.02, "max_drawdown": 0.10}


def test_the_readme_summary_gates_as_the_readme_says(tmp_path: Path) -> None:
    """The quick start's summary is valid: AAPL APPROVED, MSFT waiting for review, and the
    library lines after it run against the file the quick start wrote."""
    from gating import TrainingArchiveManager

    text = (DOCS.parent / "README.md").read_text("utf-8")
    summary = re.search(r"cat > (training_output/\S+) <<'EOF'\n(.*?)\nEOF\n", text, re.S)
    assert summary is not None
    written = tmp_path / summary.group(1)
    written.parent.mkdir()
    written.write_text(summary.group(2), "utf-8")
    archive = TrainingArchiveManager(tmp_path / "training_archives", durable=False)
    run = archive.archive_training_run(written.read_bytes())
    assert {a.symbol: str(a.classification) for a in run.assessments} == {
        "AAPL": "APPROVED",
        "MSFT": "REVIEW",
    }
    assert summary.group(1) in text.split("```python", 1)[1]
    assert archive.get_approved_models() == ["AAPL"]
