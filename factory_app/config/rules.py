"""The control rules' models: what each rule kind is configured with, and what it touches."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from factory_app.config.base import MAX_RULE_DEADLINE_S, Strict


class ThermostatRule(Strict):
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


class InterlockRule(Strict):
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


class AutoResetRule(Strict):
    """Call ``method`` when the asset is in ``state`` and its ``fault_tag`` has cleared."""

    kind: Literal["auto_reset"]
    name: str
    asset: str
    # The tag holding the machine state; the loader fills in the asset's own ``state_tag``.
    state_tag: str = "state"
    state: str = "faulted"
    fault_tag: str = "fault_active"
    method: str = "reset_fault"
    deadline_s: float = Field(default=5.0, gt=0, le=MAX_RULE_DEADLINE_S)
    retry_s: float = Field(default=3.0, gt=0)
    # The cleared fault must have held this long (event time) before a reset is tried.
    dwell_s: float = Field(default=0.0, ge=0)
    # Resets tried per fault; then the operator decides.
    max_attempts: int = Field(default=3, ge=1)
    # A tag the operator sets True to allow automatic resets (None: no permissive needed).
    permissive_tag: str | None = None


Rule = Annotated[Union[ThermostatRule, InterlockRule, AutoResetRule], Field(discriminator="kind")]
RULE_KINDS = ("thermostat", "interlock", "auto_reset")


def rule_refs(rule) -> list[tuple[str, str, str]]:
    """``(asset, "read" | "write" | "method", name)`` of everything ``rule`` reads or acts on."""
    if isinstance(rule, ThermostatRule):
        return [(rule.asset, "read", rule.input), (rule.asset, "write", rule.output)]
    if isinstance(rule, InterlockRule):
        return [(rule.downstream, "read", rule.input), (rule.upstream, "write", rule.output)]
    return [(rule.asset, "read", rule.state_tag), (rule.asset, "read", rule.fault_tag),
            (rule.asset, "method", rule.method)]
