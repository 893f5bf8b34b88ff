"""Interlock: when the downstream machine trips (jam, fault), stop what feeds it. Once per trip."""

from __future__ import annotations

from factory_app import events
from factory_app.rules import Intent, Memory, same


def evaluate(rule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    if not (isinstance(event, events.Telemetry) and event.asset_id == rule.downstream and event.tag == rule.input):
        return [], memory
    tripped = any(same(event.value, v) for v in rule.trip_values)
    was_tripped = bool(memory and memory.get("tripped"))
    if tripped and not was_tripped:
        return [Intent(rule.upstream, "write", rule.output, rule.value)], {"tripped": True}
    if not tripped and was_tripped:
        return [], {"tripped": False}  # restarting the upstream is the operator's decision
    return [], memory
