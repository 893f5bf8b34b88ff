"""Poison isolation: a batch that fails as a whole is retried item by item.

A batch is folded and written as one unit for speed. When anything in it fails
(a fold bug, a value the store refuses, a failed write), the whole batch is
folded again one item at a time, each all or nothing, so one poison item
cannot take its batch-mates with it. Re-applying items the failed attempt had
partly written is safe: every fold skips, per key, what that key already
absorbed (see tables.asset_state.already_applied).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def fold_isolating(fold: Callable[[Sequence[T]], None], items: Sequence[T]) -> list[tuple[T, Exception]]:
    """Apply ``fold`` to ``items`` at once, or item by item if that fails; return the items that failed alone."""
    if not items:
        return []
    try:
        fold(items)
        return []
    except Exception as exc:
        if len(items) == 1:
            return [(items[0], exc)]
    failed: list[tuple[T, Exception]] = []
    for item in items:
        try:
            fold([item])
        except Exception as exc:
            failed.append((item, exc))
    return failed
