"""The event types' names (SPEC section 10), apart so that the parser and the config
validate them without importing the events' code."""

from __future__ import annotations

__all__ = ["EVENT_TYPES"]

EVENT_TYPES = (
    "run_archived",
    "review_needed",
    "model_approved",
    "model_dropped",
    "champion_changed",
    "file_rejected",
)
