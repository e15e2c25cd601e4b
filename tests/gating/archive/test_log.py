"""Tests for gating.archive.log: a library that logs nothing to its user's bare stderr."""

from __future__ import annotations

import logging

import pytest

from gating.archive.log import LOG


def test_a_warning_with_no_handler_configured_reaches_no_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no handler on the root logger, logging's last resort would print the warning."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    LOG.warning("run_damaged", extra={"timestamp": "20261206T000000000000Z", "reason": "x"})
    assert capsys.readouterr().err == ""
