"""Reset a faulted machine by calling its method once the fault's cause has cleared.

Fails safe: it acts only in auto mode, only on good-quality state and fault readings,
only when the fault reading that says "cleared" is newer than the fault itself and has
held for ``dwell_s`` (event time), only while the operator's permissive tag (if
configured) is True, and at most ``max_attempts`` times per fault, ``retry_s`` apart.
"""

from __future__ import annotations

from factory_app import events
from factory_app.rules import Intent, Memory, manual, trusted


def evaluate(rule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    if not (isinstance(event, events.Telemetry) and event.asset_id == rule.asset):
        return [], memory
    now = event.event_time
    machine = trusted(state, rule.state_tag, now)
    if machine is None or machine["value"] != rule.state:
        return [], None  # not faulted (or not known to be): the episode, and its attempts, are over
    mem = dict(memory or {})
    mem.setdefault("faulted_at", machine["event_time"])
    mem.setdefault("attempts", 0)
    fault = trusted(state, rule.fault_tag, now)
    if (manual(state) or fault is None or fault["value"] is not False
            or fault["event_time"] < mem["faulted_at"] or now - fault["event_time"] < rule.dwell_s):
        return [], mem
    if rule.permissive_tag is not None:
        permit = trusted(state, rule.permissive_tag, now)
        if permit is None or permit["value"] is not True:
            return [], mem
    if mem["attempts"] >= rule.max_attempts or now - mem.get("at", float("-inf")) < rule.retry_s:
        return [], mem
    mem.update(attempts=mem["attempts"] + 1, at=now)
    return [Intent(rule.asset, "call", rule.method)], mem
