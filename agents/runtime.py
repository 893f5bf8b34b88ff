"""What a processor is: one declaration that the live worker, the replays and the CLI all read.

A processor names its source topics, the event types it accepts, the tables it owns
and its step: a pure fold of one event into those tables that returns the commands
the event caused. ``register`` declares its tables (and web views) on a worker. A
*batched* processor is then run by the live runtime (``agents.live``), which folds
each partition's batch through ``fold_atomically``; the replays (``rebuild``,
``verify``, ``state-at``, ``backfill``) fold one event at a time through the very
same function over plain dicts. Live and replay agree because both run the step the
declaration names, through the same code, not by convention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faust

from factory_app.config import PlantConfig
from factory_app.settings import Settings
from tables.write_behind import WriteBehind

Tables = dict[str, dict[str, Any]]  # table name -> key -> value
# (tables, decoded event, its offset) -> the commands it caused (dropped by replays)
ReplayStep = Callable[[Tables, Any, int], list]


@dataclass
class LiveContext:
    """What a processor's ``register`` gets from the worker being built."""

    app: faust.App
    settings: Settings
    plant: Callable[[], PlantConfig]  # loaded on first use: only some processors need it
    topic: Callable[[str], faust.TopicT]  # a logical topic name -> the deployment's Faust topic
    dead_letter: faust.TopicT


@dataclass(frozen=True)
class Processor:
    name: str
    sources: tuple[str, ...]  # logical topic names (factory_app.events)
    accepts: tuple[type, ...]
    tables: tuple[str, ...]
    register: Callable[[LiveContext], dict[str, faust.Table]]  # declares its tables (an unbatched one: its agent)
    # (settings, the plant or None, a metrics label) -> the step; the label is "replay" in replays
    step: Callable[[Settings, PlantConfig | None, str], ReplayStep]
    default: bool = True  # run by a worker whose FACTORY_PROCESSORS is not set
    batched: bool = True  # the live runtime folds it in partition batches (else ``register`` declares an agent)
    uses_plant: bool = False  # its step needs the plant file (rules, asset facts)
    decides: bool = False  # its step issues commands: the runtime produces them before other folds are sent
    emits_to: str = "commands"  # the logical topic its commands go to (a shadow rule set's: commands-shadow)


def fold_atomically(tables: Mapping[str, Any], step: ReplayStep, items: Sequence[tuple[Any, int]]) -> list:
    """Fold ``(event, offset)`` items through ``step`` into ``tables``, all or nothing; returns their commands.

    The step runs over write-behind views: each key is read once and each changed key
    written once, every new value is serialized before the first write (a value the store
    would refuse fails the whole fold with nothing written), and deletions go first (see
    ``tables.write_behind``). The live runtime folds a partition's batch through here,
    the replays one event at a time.
    """
    views = {name: WriteBehind(table) for name, table in tables.items()}
    commands: list = []
    for event, offset in items:
        commands.extend(step(views, event, offset))
    for view in views.values():
        view.validate()
    for view in views.values():
        view.flush()
    return commands
