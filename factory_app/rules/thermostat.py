"""Thermostat with hysteresis: heat below ``on_below``, stop above ``off_above``, hold in between.

Fails safe: it acts only on good, fresh temperature readings; a reading that is not good,
or a temperature older than ``stale_s`` (event time) when another sample of the oven
arrives, gets the configured fail-safe action (``on_stale``: switch the heater off, or
hold). It trusts the heater's last value only while that is good and fresh, and stands
aside while the asset is in manual mode.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from factory_app import events
from factory_app.rules import Intent, Memory, manual, same, trusted
from factory_app.rules.kind import MAX_RULE_DEADLINE_S, RuleConfig, RuleKind


class ThermostatRule(RuleConfig):
    """Hysteresis: output on_value below ``on_below``, off_value above ``off_above``."""

    kind: Literal["thermostat"]
    name: str
    asset: str
    input: str = "temperature"
    output: str = "heater_power"
    on_below: float
    off_above: float
    on_value: float
    off_value: float = 0.0
    deadline_s: float = Field(default=5.0, gt=0, le=MAX_RULE_DEADLINE_S)
    retry_s: float = Field(default=3.0, gt=0)
    # A temperature (or heater value) older than this, in event time, is not acted on.
    stale_s: float = Field(default=30.0, gt=0)
    # On a stale or not-good temperature: switch the heater off (off_value), or hold it.
    on_stale: Literal["off", "hold"] = "off"

    @model_validator(mode="after")
    def _band(self) -> "ThermostatRule":
        if self.on_below >= self.off_above:
            raise ValueError("on_below must be below off_above (the hysteresis band)")
        return self



def evaluate(rule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    if not (isinstance(event, events.Telemetry) and event.asset_id == rule.asset):
        return [], memory
    if manual(state):
        return [], None  # the operator's; nothing remembered to act on later
    now = event.event_time
    temperature = trusted(state, rule.input, now, rule.stale_s)
    if temperature is None or isinstance(temperature["value"], (bool, str)):
        if rule.on_stale == "hold" or (event.tag != rule.input and state["tags"].get(rule.input) is None):
            return [], memory  # holding; or no temperature seen yet at all
        return _ask(rule, state, now, memory, rule.off_value, failsafe=True)
    if event.tag != rule.input:
        return [], memory  # decisions are made on temperature readings
    value = temperature["value"]
    if value < rule.on_below:
        return _ask(rule, state, now, memory, rule.on_value)
    if value > rule.off_above:
        return _ask(rule, state, now, memory, rule.off_value)
    return [], memory


def _ask(rule, state: dict, now: float, memory: Memory, desired: float, failsafe: bool = False):
    mem = {"desired": desired, "at": now, "failsafe": failsafe}
    actual = trusted(state, rule.output, now, rule.stale_s)
    if actual is not None and not isinstance(actual["value"], str) and same(float(actual["value"]), float(desired)):
        return [], mem
    if memory and memory.get("desired") == desired and now - memory["at"] < rule.retry_s:
        return [], memory  # already asked; give the PLC time to answer before asking again
    return [Intent(rule.asset, "write", rule.output, float(desired))], mem


KIND = RuleKind("thermostat", ThermostatRule, evaluate,
                refs=lambda r: [(r.asset, "read", r.input), (r.asset, "write", r.output)],
                trigger=lambda r: r.asset,
                acts=lambda r: [(r.asset, "write", r.output, (float(r.on_value), float(r.off_value)))])
