"""The docs: the MkDocs pages build strictly, every page is in the nav, the README is short."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(120)
def test_the_pages_build_with_no_warning(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds (a broken link or a page left out fails it)."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "architecture" / "index.html").is_file()


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    """The nav lists each Markdown page of docs/ once, and nothing else."""
    config = (ROOT / "mkdocs.yml").read_text("utf-8")
    listed = re.findall(r"(?m)^  - [^:]+: (\S+\.md)$", config)
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert sorted(listed) == pages
    assert len(set(listed)) == len(listed)


def test_the_readme_is_short_and_its_links_resolve() -> None:
    """The README is at most 200 lines, gives the test command, and links to pages that exist."""
    text = (ROOT / "README.md").read_text("utf-8")
    assert len(text.splitlines()) <= 200
    assert "```sh\npython -m pytest\n```" in text
    links = re.findall(r"\]\(([^)#]+)\)", text)
    local = [link for link in links if not link.startswith("http")]
    assert local
    assert all((ROOT / link).exists() for link in local), local


def test_the_man_page_is_generated_from_the_parser() -> None:
    """docs/gatewatch.1 is what `python -m docs.manpage` writes now, and names every command."""
    from daemon.cli.main import build_parser
    from docs.manpage import render

    page = render(build_parser())
    assert (ROOT / "docs" / "gatewatch.1").read_text("utf-8") == page, (
        "regenerate it: python -m docs.manpage > docs/gatewatch.1"
    )
    for command in ("run", "archive", "decide", "deployable", "regate", "config init",
                    "notify status", "reindex", "serve"):  # fmt: skip
        assert f".B gatewatch {command}".replace("-", "\\-") in page, command
