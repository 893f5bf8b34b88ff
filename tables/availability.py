"""Availability, performance, quality and OEE per machine: a fold over state transitions and counters.

Time in each machine state is measured in event time between consecutive
machine StateTransitions; part counts are the differences of the PLC's
counters since the analytic first saw the asset. Pure and deterministic.
"""

from __future__ import annotations

from typing import Any

from factory_app.events import StateTransition, Telemetry

Entry = dict[str, Any]
COUNTERS = ("good_parts", "bad_parts", "cycle_counter")


def _empty(asset_id: str) -> Entry:
    return {"asset_id": asset_id, "state": None, "since": None, "seconds_in": {}, "first": {}, "last": {},
            "seen_until": None}


def _advance(entry: Entry, event_time: float) -> None:
    # The open interval of the current state counts up to the newest event time seen.
    prev = entry["seen_until"]
    entry["seen_until"] = event_time if prev is None else max(prev, event_time)


def apply_availability(entry: Entry | None, event: Telemetry | StateTransition, ideal_cycle_s: float) -> Entry | None:
    """The entry after ``event``; None while the asset has shown nothing this analytic uses."""
    if isinstance(event, StateTransition):
        if event.kind != "machine":
            return entry
        new = _empty(event.asset_id) if entry is None else {**entry, "seconds_in": dict(entry["seconds_in"])}
        if new["state"] is not None and new["since"] is not None:
            spent = max(0.0, event.event_time - new["since"])
            new["seconds_in"][new["state"]] = new["seconds_in"].get(new["state"], 0.0) + spent
        new["state"], new["since"] = event.to_state, event.event_time
        _advance(new, event.event_time)
        return _with_kpis(new, ideal_cycle_s)
    counter = event.tag in COUNTERS and not isinstance(event.value, (bool, str))
    if entry is None and not counter:
        return None
    new = _empty(event.asset_id) if entry is None else {**entry, "first": dict(entry["first"]),
                                                        "last": dict(entry["last"])}
    if counter:
        new["first"].setdefault(event.tag, event.value)
        new["last"][event.tag] = event.value
    _advance(new, event.event_time)
    return _with_kpis(new, ideal_cycle_s)


def _delta(entry: Entry, tag: str) -> float:
    return float(entry["last"].get(tag, 0) - entry["first"].get(tag, 0))


def _with_kpis(entry: Entry, ideal_cycle_s: float) -> Entry:
    seconds = dict(entry["seconds_in"])
    if entry["state"] is not None and entry["since"] is not None and entry["seen_until"] is not None:
        seconds[entry["state"]] = seconds.get(entry["state"], 0.0) + max(0.0, entry["seen_until"] - entry["since"])
    total = sum(seconds.values())
    running = seconds.get("running", 0.0)
    good, bad = _delta(entry, "good_parts"), _delta(entry, "bad_parts")
    availability = running / total if total > 0 else None
    quality = good / (good + bad) if good + bad > 0 else None
    performance = min(1.0, ideal_cycle_s * _delta(entry, "cycle_counter") / running) if running > 0 else None
    oee = (availability * performance * quality
           if None not in (availability, performance, quality) else None)
    return {**entry, "availability": availability, "performance": performance, "quality": quality, "oee": oee}
