"""Tests for gating.shared.database: how a database URL is named in a line."""

from __future__ import annotations

import pytest

from gating.shared.database import shown_url


@pytest.mark.parametrize(
    ("url", "env", "shown"),
    [
        ("postgresql://gw@db.example:6543/gatewatch", {}, "db.example:6543/gatewatch"),
        ("postgresql://gw@/gw?host=/run/pg&port=55439", {}, "/run/pg:55439/gw"),
        ("postgresql://gw@/gw", {"PGHOST": "pg.internal", "PGPORT": "5433"}, "pg.internal:5433/gw"),
        ("postgresql://gw@/gw", {}, "localhost:5432/gw"),
    ],
)
def test_a_url_is_named_where_libpq_goes(
    monkeypatch: pytest.MonkeyPatch, url: str, env: dict[str, str], shown: str
) -> None:
    """The host and port in the query or in PGHOST/PGPORT are the ones named (every line
    said localhost:5432 for them), never the user."""
    for name in ("PGHOST", "PGPORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert shown_url(url) == shown
