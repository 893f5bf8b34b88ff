"""Control rules: pure functions of (rule, asset state, event, memory) -> (intents, memory).

A rule never does I/O and never reads a clock: it sees the asset state after
the event (a fold of the log) and the rule's own small memory (also folded
from the log), so replaying the same events yields the same decisions.
``commands_for`` turns intents into Command events with deterministic ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from factory_app import events


@dataclass(frozen=True)
class Intent:
    """What a rule wants done; the caller makes it a Command."""

    asset_id: str
    action: str  # "write" | "call"
    target: str
    value: events.Scalar | None = None
    args: tuple = ()


Memory = dict[str, Any] | None
RuleFn = Callable[[Any, dict, events.Telemetry | events.StateTransition, Memory], tuple[list[Intent], Memory]]


def trigger_asset(rule) -> str:
    """The asset whose events a rule reacts to (its memory lives under that asset's key)."""
    from factory_app.rules.registry import kind_of

    return kind_of(rule).trigger(rule)


def evaluate(rule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    """Run one rule on one event; return its intents and its new memory."""
    from factory_app.rules.registry import kind_of

    return kind_of(rule).evaluate(rule, state, event, memory)


def commands_for(rule, intents: list[Intent], cause: events.Telemetry | events.StateTransition) -> list[events.Command]:
    """Commands for ``intents``, with ids derived from (rule, cause) and a deadline from the cause's time."""
    out = []
    for intent in intents:
        cid = events.command_id(rule.name, cause.event_id, f"{intent.asset_id}.{intent.target}")
        out.append(events.Command(
            event_id=cid, command_id=cid, asset_id=intent.asset_id, event_time=cause.event_time,
            action=intent.action, target=intent.target, value=intent.value, args=tuple(intent.args),
            cause_event_id=cause.event_id, rule=rule.name, deadline=cause.event_time + rule.deadline_s,
        ))
    return out


def tag_value(state: dict, tag: str) -> Any:
    """The last value of ``tag`` in an asset state, or None."""
    sample = state["tags"].get(tag)
    return None if sample is None else sample["value"]


def trusted(state: dict, tag: str, now: float, max_age: float | None = None) -> dict | None:
    """The last sample of ``tag`` if a rule may act on it: good quality and, with ``max_age``,
    at most that many event-time seconds older than ``now`` (the event being decided on).
    Staleness is judged in event time, so a replay judges it alike."""
    sample = state["tags"].get(tag)
    if sample is None or sample["quality"] != "good":
        return None
    if max_age is not None and now - sample["event_time"] > max_age:
        return None
    return sample


def manual(state: dict) -> bool:
    """True while an operator has the asset in manual mode (rules other than interlocks stand aside)."""
    return state.get("mode") == "manual"


def same(a: Any, b: Any) -> bool:
    """Equality that does not confuse True with 1."""
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                             and not isinstance(a, bool) and not isinstance(b, bool) and a == b)
