"""Shadow: a proposed rule set run live beside the active one, its commands to a shadow topic only.

Per telemetry event the shadow folds the asset's state (as the control processor does) and
runs both rule sets on it: the proposed rules' commands go to ``commands-shadow`` (never read
by the command writer), and each decision is compared with the active rules' on the same
event: ``same`` (same command, same content), ``changed`` (same command id, other content),
``shadow_only``, ``active_only``. The counts per rule, the time the shadow first saw each
asset and its last differences are kept in the shadow's own table, so the comparison is
event-sourced like everything else (rebuildable, it survives restarts), and exported as
``factory_shadow_decisions_total``. ``factory whatif --live`` reads them from the workers.
Promoting the proposal is a change of the plant file, with this comparison as its evidence.
"""

from __future__ import annotations

from collections import Counter

import faust
import msgspec

from agents.control import decide, rules_by_asset
from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events, metrics
from factory_app.command_diff import diff
from factory_app.config import PlantConfig, load_plant
from factory_app.settings import Settings
from tables.asset_mode import fold_mode, mode_of
from tables.asset_state import already_applied, apply_event
from tables.definitions import projection_table

PROCESSOR = "shadow"
STATE, MEMORY, MODE = f"{PROCESSOR}_state", f"{PROCESSOR}_memory", f"{PROCESSOR}_mode"
RECENT = 5  # differences kept per asset, newest last
_ACCEPT = (events.Telemetry, events.StateTransition, events.ModeChange)


def compare(active: list[events.Command], shadow: list[events.Command]) -> Counter:
    """``(rule, outcome)`` counts of one event's decisions by the two rule sets (pure)."""
    d = diff(active, shadow)
    changed, gone = {a.command_id for a, _ in d.changed}, {c.command_id for c in d.only_a}
    out: Counter = Counter()
    for cmd in active:
        outcome = "changed" if cmd.command_id in changed else "active_only" if cmd.command_id in gone else "same"
        out[(cmd.rule, outcome)] += 1
    for cmd in d.only_b:
        out[(cmd.rule, "shadow_only")] += 1
    return out


def step(active_rules: dict, shadow_rules: dict, state_table, memory_table, event, offset: int | None,
         count=None, mode_table=None) -> list[events.Command]:
    """Fold one event; return the shadow rules' commands (for the shadow topic). Both rule
    sets see the asset's mode, as the active control processor does."""
    watched = event.asset_id in active_rules or event.asset_id in shadow_rules
    if not watched:
        return []
    if isinstance(event, events.ModeChange):
        if mode_table is not None:
            fold_mode(mode_table, event, offset)
        return []
    previous = state_table.get(event.asset_id)
    if already_applied(previous, offset):
        return []
    state = apply_event(previous, event, offset)
    seen = {**state, "mode": mode_of(mode_table.get(event.asset_id)) if mode_table is not None else "auto"}
    entry = dict(memory_table.get(event.asset_id) or {"active": {}, "shadow": {}, "counts": {}, "recent": [],
                                                         "since": event.event_time})
    active, entry["active"] = decide(active_rules, seen, entry["active"], event)
    proposed, entry["shadow"] = decide(shadow_rules, seen, entry["shadow"], event)
    outcomes = compare(active, proposed)
    counts = {rule: dict(c) for rule, c in entry["counts"].items()}
    for (rule, outcome), n in outcomes.items():
        counts.setdefault(rule, {})[outcome] = counts.get(rule, {}).get(outcome, 0) + n
        if count is not None:
            count(rule, outcome, n)
    entry["counts"] = counts
    differing = [o for o in outcomes if o[1] != "same"]
    if differing:
        entry["recent"] = (entry["recent"] + [{"time": event.event_time, "cause": event.event_id,
                                               "active": [msgspec.to_builtins(c) for c in active],
                                               "shadow": [msgspec.to_builtins(c) for c in proposed]}])[-RECENT:]
    memory_table[event.asset_id] = entry
    state_table[event.asset_id] = state  # last: it records the offset
    return proposed


def shadow_plant(settings: Settings) -> PlantConfig:
    if settings.worker.shadow_plant is None:
        raise ValueError("the shadow processor needs FACTORY_SHADOW_PLANT (a proposed plant file)")
    return load_plant(settings.worker.shadow_plant)


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    batched = ctx.settings.worker.batched_tables
    return {name: projection_table(ctx.app, ctx.settings, name, batched) for name in (STATE, MEMORY, MODE)}


def _step(settings: Settings, plant: PlantConfig | None, label: str) -> ReplayStep:
    active = rules_by_asset(plant) if plant is not None else {}
    proposed: list[dict] = []  # loaded at the first event: declaring the processor needs no shadow plant

    def count(rule: str, outcome: str, n: int) -> None:
        metrics.SHADOW_DECISIONS.labels(rule, outcome).inc(n)
    live_count = None if label == "replay" else count

    def run(t, e, o):
        if not proposed:
            proposed.append(rules_by_asset(shadow_plant(settings)))
        return step(active, proposed[0], t[STATE], t[MEMORY], e, o, live_count, t[MODE])
    return run


SPEC = Processor(PROCESSOR, (events.TELEMETRY, events.OPERATOR_ACTIONS), _ACCEPT, (STATE, MEMORY, MODE), _register,
                 _step, default=False,
                 uses_plant=True, decides=True, emits_to=events.SHADOW_COMMANDS)
