"""Reset a faulted machine by calling its method once the fault's cause has cleared.

Fails safe: it acts only in auto mode, only on good-quality state and fault readings,
only when the fault reading that says "cleared" is newer than the fault itself and has
held for ``dwell_s`` (event time), only while the operator's permissive tag (if
configured) is True, and at most ``max_attempts`` times per fault, ``retry_s`` apart.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from factory_app import events
from factory_app.rules import Intent, Memory, manual, trusted
from factory_app.rules.kind import MAX_RULE_DEADLINE_S, RuleConfig, RuleKind


class AutoResetRule(RuleConfig):
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


def _fill(raw: dict, assets: dict[str, dict]) -> dict:
    """The asset's own machine-state tag unless the rule names one."""
    state_tag = (assets.get(raw.get("asset")) or {}).get("state_tag")
    return raw if "state_tag" in raw or not state_tag else {**raw, "state_tag": state_tag}


KIND = RuleKind("auto_reset", AutoResetRule, evaluate,
                refs=lambda r: [(r.asset, "read", r.state_tag), (r.asset, "read", r.fault_tag),
                                (r.asset, "method", r.method)],
                trigger=lambda r: r.asset, fill=_fill,
                acts=lambda r: [(r.asset, "call", r.method, ((),))])
