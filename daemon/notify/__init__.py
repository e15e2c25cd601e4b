"""Notifications: targets from [notify], payloads, retry planning, and the sender thread."""

from __future__ import annotations
