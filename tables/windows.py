"""Tumbling event-time windows of one (asset, tag): pure window math and aggregation.

Windows are ``[start, start + size)`` with ``start = floor(t / size) * size``.
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


def _escape(part: str) -> str:
    # Percent-escape the escape character first, then the separator: the joined key then
    # splits back into exactly the parts it was made of, whatever the parts contain.
    return part.replace("%", "%25").replace("|", "%7C")


def _unescape(part: str) -> str:
    return part.replace("%7C", "|").replace("%25", "%")


def window_key(asset_id: str, tag: str, start: float) -> str:
    """Table key of one window: ``asset|tag|start`` with the parts escaped, ``start`` as repr(float).

    Injective over all strings and floats (a property test proves it): no two series or
    windows share a key, and the ``index`` suffix of ``index_key`` is never a float's repr.
    """
    return f"{_escape(asset_id)}|{_escape(tag)}|{float(start) + 0.0!r}"  # + 0.0: -0.0 is 0.0


def index_key(asset_id: str, tag: str) -> str:
    """Table key of the list of retained window starts of one (asset, tag)."""
    return f"{_escape(asset_id)}|{_escape(tag)}|index"


def parse_key(key: str) -> tuple[str, str, float | None]:
    """(asset, tag, window start) of a table key; start is None for an index key."""
    asset, tag, last = key.split("|")
    return _unescape(asset), _unescape(tag), None if last == "index" else float(last)


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
