"""Shared mode: one archive in PostgreSQL that several gatewatch processes use at once.

Modules: ``schema`` (the tables, their version, ``upgrade``), ``database`` (connections,
timeouts, reconnecting), ``store`` (every query, as the folder archive's catalog answers
them), ``writer`` (group commits in one transaction, timestamps from the database),
``review`` (decisions, a race refused), ``archive`` (``SharedArchive``, the composite the
service, the CLI and the web use), ``transfer`` (import a folder archive, export one).
"""

from __future__ import annotations

__all__: list[str] = []
