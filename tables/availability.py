"""Availability, performance, quality and OEE per machine: a fold over state transitions and counters.

Time in each machine state is measured in event time between consecutive
machine StateTransitions; part counts are the differences of the PLC's
counters since the analytic first saw the asset. Which tags are the counters and
the design cycle time come from the asset's ``production`` facts in the plant file;
an asset without them gets availability only. Pure and deterministic.
"""

from __future__ import annotations

from typing import Any

from factory_app.config import Production
from factory_app.events import StateTransition, Telemetry

Entry = dict[str, Any]


def _empty(asset_id: str) -> Entry:
    return {"asset_id": asset_id, "state": None, "since": None, "seconds_in": {}, "first": {}, "last": {},
            "seen_until": None}


def _advance(entry: Entry, event_time: float) -> None:
    # The open interval of the current state counts up to the newest event time seen.
    prev = entry["seen_until"]
    entry["seen_until"] = event_time if prev is None else max(prev, event_time)


def apply_availability(entry: Entry | None, event: Telemetry | StateTransition,
                       production: Production | None) -> Entry | None:
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
        return _with_kpis(new, production)
    counter = (production is not None and event.tag in production.counters()
               and not isinstance(event.value, (bool, str)))
    if entry is None and not counter:
        return None
    new = _empty(event.asset_id) if entry is None else {**entry, "first": dict(entry["first"]),
                                                        "last": dict(entry["last"])}
    if counter:
        new["first"].setdefault(event.tag, event.value)
        new["last"][event.tag] = event.value
    _advance(new, event.event_time)
    return _with_kpis(new, production)


def _delta(entry: Entry, tag: str | None) -> float:
    return 0.0 if tag is None else float(entry["last"].get(tag, 0) - entry["first"].get(tag, 0))


def totals(entry: Entry, production: Production | None) -> tuple[dict[str, float], dict[str, float] | None]:
    """The entry's seconds per machine state (the open interval up to the newest event time
    included) and what was made (None without production facts): what ``figures`` rates."""
    seconds = dict(entry["seconds_in"])
    if entry["state"] is not None and entry["since"] is not None and entry["seen_until"] is not None:
        seconds[entry["state"]] = seconds.get(entry["state"], 0.0) + max(0.0, entry["seen_until"] - entry["since"])
    made = None if production is None else {
        "good": _delta(entry, production.good_counter), "bad": _delta(entry, production.bad_counter),
        "ideal_s": production.ideal_cycle_s * _delta(entry, production.cycle_counter)}
    return seconds, made


def _with_kpis(entry: Entry, production: Production | None) -> Entry:
    return {**entry, **figures(*totals(entry, production))}


def figures(seconds_in: dict[str, float], made: dict[str, float] | None) -> dict[str, float | None]:
    """Availability, performance, quality and OEE from time per machine state and what was made
    (``good``/``bad`` parts, ``ideal_s``: design cycle time x cycles; None without production facts).

    Sums of both over assets or periods rate the sum: the fleet's figures are computed from its
    totals, never as means of ratios. Pure."""
    total = sum(seconds_in.values())
    running = seconds_in.get("running", 0.0)
    availability = running / total if total > 0 else None
    quality = performance = None
    if made is not None:
        good, bad = made["good"], made["bad"]
        quality = good / (good + bad) if good + bad > 0 else None
        performance = min(1.0, made["ideal_s"] / running) if running > 0 else None
    oee = (availability * performance * quality
           if None not in (availability, performance, quality) else None)
    return {"availability": availability, "performance": performance, "quality": quality, "oee": oee}
