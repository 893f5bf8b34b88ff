"""Availability, performance, quality and OEE per asset in tumbling event-time periods.

The cumulative analytic (``tables.availability``) rates an asset's whole history; plant
people read OEE per hour or shift. Here each asset's entry holds a cursor (its machine state,
the event time accounted up to, its counters' last values) and its newest periods: seconds in
each machine state and what was made (good, bad, cycles, and the design time of those cycles)
inside ``[start, start + size)``. One key per asset, so an event's effect is one write and the
runtime's per-key offset guard makes it idempotent. An event moves the cursor: the time
since the last event is split over the periods it spans (a machine running for three hours
fills three periods), and a counter's increase counts in the period of the event that saw it.
Entries hold sums, so periods, assets and sites add up: a fleet's OEE is rated from its totals.

Time only moves forward (an event older than the cursor adds no time); a counter that fell
counts from zero (the PLC reset it). Only the newest ``retention`` periods are kept, so the
content depends on the events alone. Pure and deterministic.
"""

from __future__ import annotations

import math
from typing import Any

from factory_app.config import Production
from factory_app.events import StateTransition, Telemetry
from tables.availability import figures

Entry = dict[str, Any]
Period = dict[str, Any]
_MADE = ("good", "bad", "cycles", "ideal_s")


def split_interval(begin: float, end: float, size: float, keep: int) -> dict[float, float]:
    """Seconds of ``[begin, end)`` in each period of width ``size`` it overlaps, for at most the
    newest ``keep`` periods (older ones could not be retained). Exact at period boundaries."""
    if end <= begin:
        return {}
    last = math.floor(end / size)
    if last * size == end:  # [begin, end) stops short of the period that starts at end
        last -= 1
    k = max(math.floor(begin / size), last - keep + 1)
    out: dict[float, float] = {}
    while k <= last:
        lo, hi = max(begin, k * size), min(end, (k + 1) * size)
        if hi > lo:
            out[k * size] = out.get(k * size, 0.0) + (hi - lo)
        k += 1
    return out


def _counter_role(production: Production | None, tag: str) -> str | None:
    if production is None:
        return None
    for role, name in (("cycles", production.cycle_counter), ("good", production.good_counter),
                       ("bad", production.bad_counter)):
        if name is not None and name == tag:
            return role
    return None


def apply_kpi_periods(entry: Entry | None, event: Telemetry | StateTransition, production: Production | None,
                      size: float, keep: int) -> Entry | None:
    """The asset's entry after ``event``: ``{"asset_id", "state", "until", "last": {tag: value},
    "periods": [period, ...] oldest first}``. None while the asset has shown neither a machine
    state nor a production counter."""
    machine = isinstance(event, StateTransition) and event.kind == "machine"
    role = (None if isinstance(event, StateTransition) or isinstance(event.value, (bool, str))
            else _counter_role(production, event.tag))
    if entry is None and not machine and role is None:
        return None
    new = ({"asset_id": event.asset_id, "state": None, "until": None, "last": {}, "periods": []} if entry is None
           else {**entry, "last": dict(entry["last"])})
    parts: dict[float, Period] = {}
    t = event.event_time
    if new["state"] is not None and new["until"] is not None:
        for start, seconds in split_interval(new["until"], t, size, keep).items():
            parts.setdefault(start, _part())["seconds_in"][new["state"]] = seconds
    new["until"] = t if new["until"] is None else max(new["until"], t)
    if machine:
        new["state"] = event.to_state
    if role is not None:
        before = new["last"].get(event.tag)
        value = float(event.value)
        if before is not None:
            made = value - before if value >= before else value  # a counter that fell was reset to zero
            part = parts.setdefault(math.floor(t / size) * size, _part())
            part[role] += made
            if role == "cycles":
                part["ideal_s"] += made * production.ideal_cycle_s
        new["last"][event.tag] = value
    if parts:
        new["periods"] = _merged(entry["periods"] if entry else [], parts, event.asset_id, size, keep,
                                 rated=production is not None)
    return new


def _merged(periods: list[Period], parts: dict[float, Period], asset_id: str, size: float, keep: int,
            rated: bool) -> list[Period]:
    """``periods`` with ``parts`` added, the newest ``keep`` kept (a part older than all of them
    when they are full is dropped: its period is gone)."""
    by_start = {p["start"]: p for p in periods}
    for start, part in parts.items():
        if len(by_start) >= keep and start < min(by_start) and start not in by_start:
            continue
        by_start[start] = add_part(by_start.get(start), part, asset_id, start, size, rated)
    return [by_start[s] for s in sorted(by_start)[-keep:]]


def _part() -> Period:
    return {"seconds_in": {}, "good": 0.0, "bad": 0.0, "cycles": 0.0, "ideal_s": 0.0}


def add_part(period: Period | None, part: Period, asset_id: str, start: float, size: float,
             rated: bool) -> Period:
    """The period entry with ``part`` added; its figures recomputed (``rated``: the asset has
    production facts, so performance and quality are defined)."""
    base = period or {"asset_id": asset_id, "start": start, "end": start + size, "seconds_in": {},
                      "made": {k: 0.0 for k in _MADE} if rated else None}
    seconds = dict(base["seconds_in"])
    for state, s in part["seconds_in"].items():
        seconds[state] = seconds.get(state, 0.0) + s
    made = None if base["made"] is None else {k: base["made"][k] + part[k] for k in _MADE}
    return {**base, "seconds_in": seconds, "made": made, **figures(seconds, made)}
