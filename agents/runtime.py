"""What a processor is: one declaration that the live worker, the replays and the CLI all read.

A processor names its source topics, the event types it accepts and the tables it
owns, and gives two things built from the same pure step: ``register`` declares its
live Faust agent (and views) on a worker, ``replay_step`` folds one event into plain
dicts for ``rebuild``, ``verify``, ``state-at`` and ``backfill``. Live and replay
agree because both run the step the declaration names, not by convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust

from factory_app.config import PlantConfig
from factory_app.settings import Settings

Tables = dict[str, dict[str, Any]]  # table name -> key -> value
# (tables, decoded event, its offset) -> the commands it caused (dropped by replays)
ReplayStep = Callable[[Tables, Any, int], list]


@dataclass
class LiveContext:
    """What a processor's ``register`` gets from the worker being built."""

    app: faust.App
    settings: Settings
    plant: Callable[[], PlantConfig]  # loaded on first use: only control needs the rules
    topic: Callable[[str], faust.TopicT]  # a logical topic name -> the deployment's Faust topic
    dead_letter: faust.TopicT


@dataclass(frozen=True)
class Processor:
    name: str
    sources: tuple[str, ...]  # logical topic names (factory_app.events)
    accepts: tuple[type, ...]
    tables: tuple[str, ...]
    register: Callable[[LiveContext], dict[str, faust.Table]]  # declares the live agent; returns its tables
    replay_step: Callable[[Settings, PlantConfig | None], ReplayStep]
    default: bool = True  # run by a worker whose FACTORY_PROCESSORS is not set
