"""Splitting mined history by time, and weighting training examples by recency.

The newest commits are held out for evaluation and never trained on. Commits are ordered as
`git rev-list --date-order` gives them (newest first, never a parent before its children), so a commit
held out is never the ancestor of a training commit: nothing written after the split reaches training.
"""

from __future__ import annotations

import math

SECONDS_PER_DAY = 86_400


def holdout_count(n_commits: int, fraction: float, min_commits: int) -> int:
    """How many of the newest commits to hold out.

    `ceil(fraction * n)`, raised to `min_commits` when the history allows it: the minimum applies as far as
    it leaves three quarters of the commits to train on (so up to `n // 4` commits). At least one commit
    always stays for training; fraction 0 holds nothing out.
    """
    if fraction <= 0 or n_commits < 2:
        return 0
    wanted = max(math.ceil(fraction * n_commits), min(min_commits, n_commits // 4))
    return min(wanted, n_commits - 1)


def recency_weight(timestamp: int, newest: int, half_life_days: float) -> float:
    """0.5 ** (age / half-life), the age counted in days before `newest`; 1.0 when weighting is off (0)."""
    if half_life_days <= 0:
        return 1.0
    age_days = max(0, newest - timestamp) / SECONDS_PER_DAY
    return round(0.5 ** (age_days / half_life_days), 6)
