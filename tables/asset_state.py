"""Current state of an asset: a pure fold over its Telemetry and StateTransition events.

The value kept per asset is a plain dict (JSON-able, stable key order when
serialized sorted) so the same function serves the live agent, rebuilds,
time travel and the tests' reference folds.
"""

from __future__ import annotations

from typing import Any

from factory_app.events import StateTransition, Telemetry

AssetState = dict[str, Any]


def empty_state(asset_id: str) -> AssetState:
    """The state of an asset no event has mentioned yet."""
    return {"asset_id": asset_id, "tags": {}, "connection": None, "machine_state": None,
            "last_event_time": None, "events": 0}


def already_applied(value: dict | None, offset: int | None) -> bool:
    """True when ``value`` already carries the effect of the event at ``offset``.

    All events of an asset sit in one partition in offset order, so remembering
    the last applied offset per key makes every fold idempotent: a worker that
    crashed after writing its changelog but before committing its offsets
    re-reads those events and skips them instead of counting them twice.
    """
    return offset is not None and value is not None and value.get("offset", -1) >= offset


def seen_before(state: AssetState | None, event_id: str, offset: int | None) -> bool:
    """True when ``event_id`` was already absorbed at an earlier offset: the event is a duplicate.

    An event id names one event: the same id appended again (a producer retry, a replayed
    batch) is the same fact and is not folded twice. The state remembers the ids of the
    asset's last ``horizon`` events (see ``apply_event``), so a duplicate is recognised when
    fewer than ``horizon`` events of its asset lie between it and the original. The memory
    is part of the fold, so live processing and every rebuild skip the same events.
    """
    if state is None:
        return False
    first = state.get("recent_ids", {}).get(event_id)
    return first is not None and (offset is None or first < offset)


def apply_event(state: AssetState | None, event: Telemetry | StateTransition,
                offset: int | None = None, horizon: int = 0) -> AssetState:
    """Return the asset state after ``event`` (the input is not modified).

    Order is the log's order: a later offset wins even with an older
    event time, because the log is the authority on what happened last.
    ``offset`` (the event's position in its partition) is recorded for ``already_applied``;
    with ``horizon`` > 0 the ids of the last ``horizon`` events are kept for ``seen_before``.
    """
    new = empty_state(event.asset_id) if state is None else {**state, "tags": dict(state["tags"])}
    if isinstance(event, Telemetry):
        new["tags"][event.tag] = {
            "value": event.value, "quality": event.quality,
            "event_time": event.event_time, "seq": event.seq,
        }
    elif event.kind == "connection":
        new["connection"] = event.to_state
    else:
        new["machine_state"] = event.to_state
    prev = new["last_event_time"]
    new["last_event_time"] = event.event_time if prev is None else max(prev, event.event_time)
    new["events"] = new["events"] + 1
    if offset is not None:
        new["offset"] = offset
    if horizon > 0:
        remember_id(new, event.event_id, offset, horizon)
    return new


def remember_id(value: dict, event_id: str, offset: int | None, horizon: int) -> None:
    """Record ``event_id`` in ``value`` (a new value, changed in place) for ``seen_before``: the
    last ``horizon`` ids, oldest first (dicts keep insertion order in JSON too)."""
    recent = dict(value.get("recent_ids", {}))
    recent.setdefault(event_id, -1 if offset is None else offset)
    while len(recent) > horizon:
        del recent[next(iter(recent))]
    value["recent_ids"] = recent


def fold_per_asset(table, event, fold, offset: int | None = None, horizon: int = 0) -> None:
    """Write ``fold(previous value)`` at ``event``'s asset key of ``table`` (mapping-like), unless
    that key already absorbed the event: by offset, and with ``horizon`` > 0 by event id among
    the asset's last ``horizon`` events (a mirror's re-sent copy at a new offset). The written
    value remembers both; ``fold`` returning None writes nothing. For the per-asset analytics."""
    previous = table.get(event.asset_id)
    if already_applied(previous, offset) or seen_before(previous, event.event_id, offset):
        return
    entry = fold(previous)
    if entry is None:
        return
    entry = entry if offset is None else {**entry, "offset": offset}
    if horizon > 0:
        remember_id(entry, event.event_id, offset, horizon)
    table[event.asset_id] = entry
