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


def apply_event(state: AssetState | None, event: Telemetry | StateTransition,
                offset: int | None = None) -> AssetState:
    """Return the asset state after ``event`` (the input is not modified).

    Order is the log's order: a later offset wins even with an older
    event time, because the log is the authority on what happened last.
    ``offset`` (the event's position in its partition) is recorded for ``already_applied``.
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
    return new
