"""The web dashboard: pages, the JSON API, /health and /metrics over the archive."""

from __future__ import annotations
