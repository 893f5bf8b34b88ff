"""Reset a faulted machine by calling its method once the fault's cause has cleared."""

from __future__ import annotations

from factory_app import events
from factory_app.rules import Intent, Memory, tag_value


def evaluate(rule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    if not (isinstance(event, events.Telemetry) and event.asset_id == rule.asset
            and event.tag in (rule.state_tag, rule.fault_tag)):
        return [], memory
    if tag_value(state, rule.state_tag) != rule.state or tag_value(state, rule.fault_tag) is not False:
        return [], None
    if memory and event.event_time - memory["at"] < rule.retry_s:
        return [], memory
    return [Intent(rule.asset, "call", rule.method)], {"at": event.event_time}
