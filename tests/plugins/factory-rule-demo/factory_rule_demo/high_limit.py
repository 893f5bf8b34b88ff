"""High limit: when a good reading of ``input`` rises above ``limit``, write ``value`` to ``output``
(once per excursion, again every ``retry_s`` of event time while it lasts)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from factory_app import events
from factory_app.rules import Intent, trusted
from factory_app.rules.kind import MAX_RULE_DEADLINE_S, RuleConfig, RuleKind


class HighLimitRule(RuleConfig):
    kind: Literal["high_limit"]
    name: str
    asset: str
    input: str
    limit: float
    output: str
    value: float | bool
    deadline_s: float = Field(default=5.0, gt=0, le=MAX_RULE_DEADLINE_S)
    retry_s: float = Field(default=5.0, gt=0)


def evaluate(rule, state, event, memory):
    if not (isinstance(event, events.Telemetry) and event.asset_id == rule.asset and event.tag == rule.input):
        return [], memory
    sample = trusted(state, rule.input, event.event_time)
    if sample is None or isinstance(sample["value"], (bool, str)) or sample["value"] <= rule.limit:
        return [], None  # below the limit: the excursion is over
    if memory and event.event_time - memory["at"] < rule.retry_s:
        return [], memory
    return [Intent(rule.asset, "write", rule.output, rule.value)], {"at": event.event_time}


KIND = RuleKind("high_limit", HighLimitRule, evaluate,
                refs=lambda r: [(r.asset, "read", r.input), (r.asset, "write", r.output)],
                trigger=lambda r: r.asset)
