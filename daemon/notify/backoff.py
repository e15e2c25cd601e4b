"""Retry planning for deliveries (pure): when to try again, and when to give up."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryPolicy", "next_attempt", "retry_delay"]

_MAX_EXPONENT = 64  # 2**64 s is far beyond any cap: no float overflow for huge counts


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a failing delivery is retried."""

    max_attempts: int = 10
    max_age_seconds: float = 86400.0
    initial_seconds: float = 1.0
    max_seconds: float = 300.0
    factor: float = 2.0


def retry_delay(attempts: int, policy: RetryPolicy) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: initial * factor^(n-1),
    capped at max_seconds (never negative, never decreasing as attempts grow)."""
    exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
    return max(0.0, min(policy.max_seconds, policy.initial_seconds * policy.factor**exponent))


def next_attempt(
    attempts: int, first_failed: float, now: float, policy: RetryPolicy
) -> float | None:
    """When to try again after ``attempts`` failed attempts, the first at ``first_failed``;
    None when the event is to be given up (max_attempts reached, or max_age passed
    by the time of the next attempt)."""
    if attempts >= policy.max_attempts:
        return None
    at = now + retry_delay(attempts, policy)
    if at - first_failed > policy.max_age_seconds:
        return None
    return at
