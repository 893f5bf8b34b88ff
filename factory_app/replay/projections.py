"""Offline folds of the log through the processors' own step functions, one partition at a time.

Each processor has a ``Fold``: it owns fresh in-memory tables per partition
and applies records with exactly the code its Faust agent runs. Commands the
control rules compute are counted and dropped: a replay never actuates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from agents.registry import PROCESSORS
from agents.runtime import Processor, Tables, fold_atomically
from factory_app import events
from factory_app.config import PlantConfig
from factory_app.replay.log_reader import Record
from factory_app.settings import Settings



@dataclass
class Fold:
    """Folds records into per-partition tables. ``apply(tables, event)`` returns commands computed."""

    processor: str
    tables: tuple[str, ...]
    sources: tuple[str, ...]
    accept: tuple[type, ...]
    apply: Callable[[Tables, Any, int], list]
    max_clock_ahead: float
    by_partition: dict[int, Tables] = field(default_factory=dict)
    commands_computed: int = 0

    def feed(self, record: Record) -> None:
        try:
            event = events.decode_source(record.key, record.value, record.timestamp_ms / 1000, self.accept,
                                         self.max_clock_ahead)
        except events.DecodeFailure:
            return  # the live processor dead-lettered it; it changed no table
        self.feed_event(record.partition, event, record.offset)

    def feed_event(self, partition: int, event: Any, offset: int) -> None:
        """Fold an event already decoded (by a reader feeding several folds at once)."""
        if not isinstance(event, self.accept):
            return  # decoded for another fold: this processor's decode refuses it
        tables = self.by_partition.setdefault(partition, {t: {} for t in self.tables})
        try:
            self.commands_computed += len(self.apply(tables, event, offset) or ())
        except Exception:  # noqa: S110 (the live runtime dead-letters a processing error; state unchanged)
            pass

    def merged(self) -> Tables:
        """Every table across partitions (keys never span partitions: they are per asset)."""
        out: Tables = {t: {} for t in self.tables}
        for tables in self.by_partition.values():
            for name, content in tables.items():
                out[name].update(content)
        return out


def folds(settings: Settings, plant: PlantConfig | None) -> dict[str, Callable[[], Fold]]:
    """Factories of a fresh Fold for every processor, by processor name (from agents.registry)."""
    def maker(p: Processor) -> Callable[[], Fold]:
        step = p.step(settings, plant, "replay")
        # One event at a time, all or nothing, through the function the live runtime folds its batches with.
        return lambda: Fold(p.name, p.tables, p.sources, p.accepts,
                            lambda tables, event, offset: fold_atomically(tables, step, [(event, offset)]),
                            settings.worker.max_clock_ahead)
    return {name: maker(p) for name, p in PROCESSORS.items()}


def processor_of(table: str, settings: Settings, plant: PlantConfig | None) -> str:
    """The processor that owns ``table``; ValueError naming the known tables otherwise."""
    owners = {t: name for name, make in folds(settings, plant).items() for t in make().tables}
    if table not in owners:
        raise ValueError(f"unknown table {table!r}; known: {', '.join(sorted(owners))}")
    return owners[table]


def group_by_processor(tables: list[str], settings: Settings, plant: PlantConfig | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for t in tables:
        out[processor_of(t, settings, plant)].append(t)
    return dict(out)
