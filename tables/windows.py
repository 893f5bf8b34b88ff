"""Tumbling event-time windows of one (asset, tag): pure window math and aggregation.

Windows are ``[start, start + size)`` with ``start = floor(t / size) * size``; their
table keys are built in ``tables.keys``, their stored shape declared in ``tables.values``.
Each (asset, tag) keeps its most recent ``retention`` windows; older ones are
evicted when a newer window opens, so the table's content depends only on the
events read, never on wall time or on when a cleanup timer ran.
"""

from __future__ import annotations

import math
from typing import Any

Aggregate = dict[str, Any]


def window_start(event_time: float, size: float) -> float:
    """Start of the tumbling window of width ``size`` that contains ``event_time``."""
    return math.floor(event_time / size) * size


def numeric(value: Any) -> float | None:
    """The number a telemetry value aggregates as (bools count as 0/1); None for text."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return None


def add_sample(agg: Aggregate | None, value: float, start: float, size: float,
               offset: int | None = None) -> Aggregate:
    """Return the window aggregate with one more sample (count, min, max, sum, mean, last).

    ``offset`` (the sample's log offset) is recorded so the window itself can
    tell a redelivered sample from a new one, whatever happened to other keys.
    """
    off = -1 if offset is None else offset
    if agg is None:
        return {"start": start, "end": start + size, "count": 1, "min": value, "max": value,
                "sum": value, "mean": value, "last": value, "offset": off}
    count = agg["count"] + 1
    total = agg["sum"] + value
    return {**agg, "count": count, "min": min(agg["min"], value), "max": max(agg["max"], value),
            "sum": total, "mean": total / count, "last": value, "offset": off}


def retain(index: list[float], start: float, retention: int) -> tuple[list[float], list[float], bool]:
    """Admit window ``start`` into the retained ``index``.

    Returns (new index, evicted starts, accepted). A sample older than every
    retained window when the index is full is not accepted: its window is
    already gone (the event itself stays in the log and in the asset state).
    """
    if start in index:
        return index, [], True
    if len(index) >= retention and start < index[0]:
        return index, [], False
    merged = sorted([*index, start])
    evicted = merged[:-retention] if len(merged) > retention else []
    return merged[len(evicted):], evicted, True


def unpack_index(value) -> dict:
    """The index entry of an (asset, tag): {"starts": [...], "offset": last applied offset or -1}."""
    if value is None:
        return {"starts": [], "offset": -1}
    return value


def pack_index(starts: list[float], offset: int | None) -> dict:
    return {"starts": starts, "offset": -1 if offset is None else offset}
