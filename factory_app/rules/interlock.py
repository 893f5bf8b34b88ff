"""Interlock: when the downstream machine trips (jam, fault), stop what feeds it, and keep it stopped.

Fails safe: losing the downstream machine (its connection, or a bad-quality reading of
the watched input) counts as a trip when ``trip_on_lost`` is set. While tripped, the stop
is re-asserted every ``retry_s`` (event time) on the downstream's events, so an expired or
failed stop is tried again and a restart of the upstream during the trip is countered.
Restarting the upstream once the trip has cleared stays the operator's decision. Acts in
manual mode too: it is the safety rule.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field

from factory_app import events
from factory_app.rules import Intent, Memory, same
from factory_app.rules.kind import MAX_RULE_DEADLINE_S, RuleConfig, RuleKind


class InterlockRule(RuleConfig):
    """Write ``value`` to ``upstream.output`` when ``downstream.input`` is one of ``trip_values``."""

    kind: Literal["interlock"]
    name: str
    upstream: str
    downstream: str
    input: str
    trip_values: list[Union[bool, str, float]]
    output: str = "motor_on"
    value: Union[bool, float] = False
    deadline_s: float = Field(default=5.0, gt=0, le=MAX_RULE_DEADLINE_S)
    # A lost downstream (connection lost, or a bad reading of the input) is a trip.
    trip_on_lost: bool = True
    # While tripped, the stop is asserted again this often (event time of downstream events).
    retry_s: float = Field(default=2.0, gt=0)



def evaluate(rule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    if event.asset_id != rule.downstream:
        return [], memory
    mem = dict(memory or {})
    was_active = _active(rule, mem)
    if isinstance(event, events.StateTransition):
        if event.kind != "connection":
            return [], memory
        mem["lost"] = event.to_state != "connected"
    elif event.tag == rule.input:
        mem["tripped"] = any(same(event.value, v) for v in rule.trip_values)
        mem["bad"] = event.quality == "bad"
    if not _active(rule, mem):
        mem.pop("at", None)
        return [], mem
    if was_active and event.event_time - mem.get("at", float("-inf")) < rule.retry_s:
        return [], mem
    mem["at"] = event.event_time
    return [Intent(rule.upstream, "write", rule.output, rule.value)], mem


def _active(rule, mem: dict) -> bool:
    return bool(mem.get("tripped")) or (rule.trip_on_lost and bool(mem.get("lost") or mem.get("bad")))


KIND = RuleKind("interlock", InterlockRule, evaluate,
                refs=lambda r: [(r.downstream, "read", r.input), (r.upstream, "write", r.output)],
                trigger=lambda r: r.downstream, safety=True,
                acts=lambda r: [(r.upstream, "write", r.output, (r.value,))])
