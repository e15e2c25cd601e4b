"""The archive's logger, ``gating.archive``: it logs to its user's handlers, never to bare
stderr (a library's NullHandler)."""

from __future__ import annotations

import logging

__all__ = ["LOG"]

LOG = logging.getLogger("gating.archive")
if not LOG.handlers:
    LOG.addHandler(logging.NullHandler())
