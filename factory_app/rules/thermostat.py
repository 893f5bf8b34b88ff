"""Thermostat with hysteresis: heat below ``on_below``, stop above ``off_above``, hold in between."""

from __future__ import annotations

from factory_app import events
from factory_app.rules import Intent, Memory, same, tag_value


def evaluate(rule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    if not (isinstance(event, events.Telemetry) and event.asset_id == rule.asset and event.tag == rule.input):
        return [], memory
    if isinstance(event.value, (bool, str)) or event.quality == "bad":
        return [], memory  # never act on a bad reading
    if event.value < rule.on_below:
        desired = rule.on_value
    elif event.value > rule.off_above:
        desired = rule.off_value
    else:
        return [], memory
    actual = tag_value(state, rule.output)
    if actual is not None and same(float(actual), float(desired)):
        return [], {"desired": desired, "at": event.event_time}
    if memory and memory.get("desired") == desired and event.event_time - memory["at"] < rule.retry_s:
        return [], memory  # already asked; give the PLC time to answer before asking again
    return [Intent(rule.asset, "write", rule.output, float(desired))], {"desired": desired, "at": event.event_time}
