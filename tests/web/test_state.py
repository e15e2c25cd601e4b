"""Tests for daemon.web.state: what the handlers share (archive, token, health, templates)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from daemon.notify.settings import parse_notify
from daemon.web.state import WebState, templates
from gating import Outbox, TrainingArchiveManager
from tests.conftest import make_summary


def test_writable_only_with_a_token(tmp_path: Path) -> None:
    """Decisions from the browser need a token; without one the dashboard only reads."""
    manager = TrainingArchiveManager(tmp_path / "a")
    assert WebState(manager, "secret", templates()).writable
    assert not WebState(manager, None, templates()).writable


def test_deliveries_count_each_targets_events(tmp_path: Path) -> None:
    """No targets: nothing counted; a target: the outbox's events it has still to send."""
    outbox = Outbox(tmp_path / "a" / "outbox")
    manager = TrainingArchiveManager(tmp_path / "a", outbox=outbox)
    manager.archive_training_run(make_summary("a"))
    assert WebState(manager, None, templates()).deliveries() == {}
    settings = parse_notify(
        {"webhooks": [{"name": "hook", "url": "http://127.0.0.1:9/", "events": ["run_archived"]}]},
        tmp_path,
    )
    state = WebState(manager, None, templates(), targets=settings.targets)
    assert state.deliveries() == {"hook": {"pending": 1, "delivered": 0, "failed": 0}}


def test_templates_escape_what_came_from_a_file() -> None:
    """The shared templates are autoescaped and refuse an undefined name."""
    env = templates().env
    assert env.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"
    with pytest.raises(jinja2.UndefinedError, match="missing"):
        env.from_string("{{ missing }}").render()
