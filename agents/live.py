"""The live half of the processor runtime: partition batches in, table writes and commands out.

The consumer (``factory_app.partition_batches``) hands over a fetch's partition slices.
For a source topic the runtime decodes every record once, dead-letters what does not
decode, and gives each processor of that topic the events it accepts: the ones that
decide (issue commands) first, over every slice of the fetch, then the others. A processor's fold is its declared step run over
write-behind views of its tables (``agents.runtime.fold_atomically``, the code replays
run too), retried event by event when the batch fails, so a poison event is
dead-lettered alone. A decider's commands are produced and acknowledged as soon as it
has folded; then every table's changes go to the changelog, and the batch is
acknowledged to the consumer (the commit flushes the producer before it commits the
source offsets).

Commands are acknowledged before the control tables' changelog is sent: a worker that
dies in between re-reads the events and decides again (the command ids repeat, the
writer applies one), where the other order could lose a command for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP

from agents.dead_letters import DeadLetterSink
from agents.isolation import fold_isolating
from agents.runtime import ReplayStep, fold_atomically
from factory_app import events, metrics, partition_batches, private_apis
from factory_app.settings import Settings
from tables.batched import BatchedTable

log = logging.getLogger(__name__)


@dataclass
class _Member:
    name: str
    accepts: tuple[type, ...]
    tables: dict[str, faust.Table]
    step: ReplayStep
    sink: DeadLetterSink
    processed: dict[type, Any]
    decides: bool = False
    emit: faust.TopicT | None = None  # where a decider's commands go (None: counted, not sent)
    shadow: bool = False  # a shadow rule set: its commands never go to the commands topic


@dataclass
class _Source:
    topic: faust.TopicT
    members: list[_Member] = field(default_factory=list)
    accepts: tuple[type, ...] = ()  # every member's event types, set as members join (read per chunk)


class _PartitionEvent:
    """What Faust's tables read from the current event: its message's topic and partition."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, record: Any):
        self.message = record


@contextmanager
def acting_for(record: Any) -> Iterator[None]:
    """Route table reads and writes to ``record``'s partition (Faust keys them by the current event)."""
    event = _PartitionEvent(record)  # held here: Faust keeps only a weak reference
    with private_apis.faust_current_event(event):
        yield


class LiveRuntime:
    """Runs the batched processors of one worker (see the module docstring)."""

    def __init__(self, app: faust.App, settings: Settings, dead_letter: faust.TopicT,
                 commands: faust.TopicT | None, known_assets: Callable[[], frozenset[str]] | None = None):
        self.app = app
        self.settings = settings
        self.dead_letter = dead_letter
        self.commands = commands  # None: decisions are counted, not sent (FACTORY_EMIT_COMMANDS=0)
        self._sources: dict[str, _Source] = {}
        self._topics: set[str] = set()  # the consumer reads this set: topics join as processors are added
        self._asset_counters: dict[tuple[str, str], Any] = {}
        self._known_assets = known_assets  # the plant file's ids, read at the first count
        self._assets: frozenset[str] | None = None
        partition_batches.install(app, self._topics, self.handle_fetch, settings.worker.fetch_max_wait_ms)

    def add(self, name: str, topic: faust.TopicT, accepts: tuple[type, ...], tables: dict[str, faust.Table],
            step: ReplayStep, decides: bool = False, shadow_emit: faust.TopicT | None = None,
            shadow: bool = False) -> None:
        """Fold ``topic``'s events of types ``accepts`` through ``step`` into ``tables``, live.

        ``decides``: its step issues commands; such processors fold first, over every partition
        of a fetch, and their commands leave before anything else is folded (the control loop's
        latency) to the commands topic; a ``shadow`` decider's go to ``shadow_emit`` instead (None:
        counted, not sent)."""
        topic_name = topic.get_topic_name()
        source = self._sources.get(topic_name)
        if source is None:
            source = self._sources[topic_name] = _Source(topic)
            self.app.topics.add(topic)  # subscribed by Faust's conductor, delivered here
            self._topics.add(topic_name)
        member = _Member(name, accepts, tables, step, DeadLetterSink(self.dead_letter, name),
                         {cls: metrics.EVENTS_PROCESSED.labels(name, cls.__name__) for cls in accepts}, decides,
                         shadow_emit if shadow else self.commands, shadow)
        deciders = sum(1 for m in source.members if m.decides)
        source.members.insert(deciders if decides else len(source.members), member)
        source.accepts = tuple({cls: None for m in source.members for cls in m.accepts})

    def members(self) -> dict[str, list[str]]:
        """Source topic -> the processors folded from it, in fold order."""
        return {name: [m.name for m in source.members] for name, source in self._sources.items()}

    async def handle_fetch(self, batches: list[tuple[TP, list]]) -> dict[TP, asyncio.Future | None]:
        """Apply one fetch's partition slices; per partition, the changelog sends under way (or None).

        Deciders first, over every slice, then the other processors slice by slice, each slice
        published as it is folded. Work is cut into chunks of ``state_batch_max`` records (one
        fold's time and memory), and the loop is let go between them (web views, commits, acks).
        """
        chunk = self.settings.worker.state_batch_max
        try:
            work = []
            for tp, records in batches:
                source = self._sources[tp.topic]
                for start in range(0, len(records), chunk):
                    part = records[start:start + chunk]
                    work.append((source, tp, part, await self._decode(source, part)))
            for source, tp, part, decoded in work:
                with acting_for(part[-1]):
                    for member in source.members:
                        if member.decides:
                            await self._emit(await self._fold(member, decoded), member.emit, member.shadow)
            sends: dict[TP, list] = {tp: [] for tp, _ in batches}
            for source, tp, part, decoded in work:
                with acting_for(part[-1]):
                    for member in source.members:
                        if not member.decides:
                            await self._fold(member, decoded)
                sends[tp].extend(self._publish(source))
                self._count(tp, part, decoded)
                await asyncio.sleep(0)
            return {tp: asyncio.gather(*s) if s else None for tp, s in sends.items()}
        except Exception as exc:
            # Not a bad event (those are dead-lettered): the tables or the producer failed.
            # Stop rather than acknowledge what was not applied.
            log.exception("a fetch of %s failed; the worker stops", [str(tp) for tp, _ in batches])
            await self.app.crash(exc)
            raise

    def _publish(self, source: _Source) -> list[asyncio.Future]:
        sends = []
        for member in source.members:
            for table in member.tables.values():
                if isinstance(table, BatchedTable):
                    send = table.publish()
                    if send is not None:
                        sends.append(send)
        return sends

    def _count(self, tp: TP, records: list, decoded: list) -> None:
        metrics.SOURCE_RECORDS.labels(tp.topic).inc(len(records))
        assets = self._label_assets()
        for asset, n in Counter(ev.asset_id for ev, _ in decoded).items():
            if asset not in assets:  # any valid-looking id may be appended: one series for the rest
                asset = metrics.OTHER
            counter = self._asset_counters.get((tp.topic, asset))
            if counter is None:
                counter = self._asset_counters[(tp.topic, asset)] = metrics.EVENTS_IN.labels(tp.topic, asset)
            counter.inc(n)

    def _label_assets(self) -> frozenset[str]:
        if self._assets is None:
            try:
                self._assets = self._known_assets() if self._known_assets is not None else frozenset()
            except Exception as exc:  # no plant file (a fold-only worker): every asset under one label
                log.warning("per-asset event counts under %r: the plant file cannot be read (%s)", metrics.OTHER, exc)
                self._assets = frozenset()
        return self._assets

    async def _decode(self, source: _Source, records: list) -> list[tuple[Any, Any]]:
        """``(event, record)`` of each record that decodes; one dead letter for each that does not
        (from the topic's first processor)."""
        accepts, ahead = source.accepts, self.settings.worker.max_clock_ahead
        decoded = []
        for record in records:
            ts = record.timestamp
            try:
                decoded.append((events.decode_source(record.key, record.value, None if ts is None else ts / 1000,
                                                     accepts, ahead), record))
            except events.DecodeFailure as failure:
                await source.members[0].sink.send(failure, record)
        return decoded

    async def _fold(self, member: _Member, decoded: list[tuple[Any, Any]]) -> list:
        items = [(ev, rec) for ev, rec in decoded if isinstance(ev, member.accepts)]
        if not items:
            return []
        out: list = []

        def fold(batch):
            out.extend(fold_atomically(member.tables, member.step, [(ev, rec.offset) for ev, rec in batch]))

        failed = fold_isolating(fold, items)
        poisoned = set()
        for (ev, record), exc in failed:  # nothing of these was written; every other event was, once
            log.error("processing failed in %s for %s at %s[%d]@%d: %r", member.name, ev.event_id, record.topic,
                      record.partition, record.offset, exc)
            await member.sink.send(events.DecodeFailure("processing_error", repr(exc)), record)
            poisoned.add(id(record))
        counts = Counter(type(ev) for ev, rec in items if id(rec) not in poisoned)
        for cls, n in counts.items():
            member.processed[cls].inc(n)
        return out

    async def _emit(self, commands: list[events.Command], to: faust.TopicT | None, shadow: bool = False) -> None:
        """Produce ``commands`` to ``to`` and wait for their acknowledgement (see the module docstring)."""
        for cmd in commands:
            (metrics.SHADOW_COMMANDS_ISSUED if shadow else metrics.COMMANDS_ISSUED).labels(cmd.rule).inc()
        if not commands or to is None:
            return
        topic = to.get_topic_name()
        # (The worker refuses exactly_once: factory_app/app.py; no transaction to send through.)
        producer = private_apis.aiokafka_producer_of(self.app)  # no Faust buffer between
        acks = [await producer.send(topic, key=cmd.asset_id.encode(), value=events.encode(cmd))
                for cmd in commands]
        await asyncio.gather(*acks)
        for cmd in commands:
            metrics.EVENTS_OUT.labels(topic, cmd.asset_id).inc()
