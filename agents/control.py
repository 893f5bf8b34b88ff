"""Control: telemetry -> rules -> Command events on the commands topic.

Keeps its own fold of asset state, of each asset's mode (the operator-actions topic) and
each rule's memory in tables, so its decisions depend only on the log. Rules see the mode
as folded when their event is: a rebuild merges the two topics by record time, so a decision
at the very moment of a mode change may come out otherwise there; the writer checks the
mode again at the write (docs/safety.md), which is what keeps a rule off an asset in manual. The step returns the commands: live, the
runtime (``agents.live``) produces them; replays count and drop them.
"""

from __future__ import annotations

from collections import defaultdict

import faust

from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events, rules
from factory_app.config import PlantConfig
from factory_app.settings import Settings
from tables.asset_mode import fold_mode, mode_of
from tables.asset_state import already_applied, apply_event
from tables.definitions import projection_table

PROCESSOR = "control"
_ACCEPT = (events.Telemetry, events.StateTransition, events.ModeChange)
MODE_TABLE = f"{PROCESSOR}_mode"


def decide(plant_rules_by_asset: dict[str, list], state: dict, memory: dict,
           event: events.Telemetry | events.StateTransition) -> tuple[list[events.Command], dict]:
    """All commands the rules watching ``event.asset_id`` issue for ``event``; and their new memory."""
    commands: list[events.Command] = []
    new_memory = dict(memory)
    for rule in plant_rules_by_asset.get(event.asset_id, ()):
        intents, mem = rules.evaluate(rule, state, event, memory.get(rule.name))
        if mem is None:
            new_memory.pop(rule.name, None)
        else:
            new_memory[rule.name] = mem
        commands.extend(rules.commands_for(rule, intents, event))
    return commands, new_memory


def step(by_asset: dict[str, list], control_state, rule_memory, event, offset: int | None = None,
         control_mode=None) -> list[events.Command]:
    """Apply one decoded event to the control tables (mapping-like) and return the commands it causes.

    Shared by the live agent and by replays, which fold the log through the
    very same code and then drop the commands instead of sending them. A mode change goes
    into ``control_mode``; the rules see the asset's state with its mode.
    """
    if event.asset_id not in by_asset:
        return []  # no rule watches this asset: keep no state for it
    if isinstance(event, events.ModeChange):
        if control_mode is not None:
            fold_mode(control_mode, event, offset)
        return []
    previous = control_state.get(event.asset_id)
    if already_applied(previous, offset):
        return []  # re-read after a crash: decided (and sent) before
    state = apply_event(previous, event, offset)
    mode = mode_of(control_mode.get(event.asset_id)) if control_mode is not None else "auto"
    commands, memory = decide(by_asset, {**state, "mode": mode}, rule_memory.get(event.asset_id) or {}, event)
    rule_memory[event.asset_id] = memory
    control_state[event.asset_id] = state  # last: it records the offset
    return commands


def rules_by_asset(plant: PlantConfig) -> dict[str, list]:
    """The plant's rules grouped by the asset whose events trigger them."""
    by_asset: dict[str, list] = defaultdict(list)
    for rule in plant.rules:
        by_asset[rules.trigger_asset(rule)].append(rule)
    return dict(by_asset)


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    batched = ctx.settings.worker.batched_tables
    return {name: projection_table(ctx.app, ctx.settings, name, batched)
            for name in (f"{PROCESSOR}_state", f"{PROCESSOR}_rule_memory", MODE_TABLE)}


def _step(settings: Settings, plant: PlantConfig | None, label: str) -> ReplayStep:
    by_asset = rules_by_asset(plant) if plant is not None else {}
    return lambda t, e, o: step(by_asset, t[f"{PROCESSOR}_state"], t[f"{PROCESSOR}_rule_memory"], e, o,
                                t[MODE_TABLE])


SPEC = Processor(PROCESSOR, (events.TELEMETRY, events.OPERATOR_ACTIONS), _ACCEPT,
                 (f"{PROCESSOR}_state", f"{PROCESSOR}_rule_memory", MODE_TABLE),
                 _register, _step, uses_plant=True, decides=True)
