"""Telemetry caused in an event-time span [since, until), read from the snapshots' offsets, not offset 0.

Training and twin calibration want the readings of a span, not a state, so a snapshot's
tables are not needed, only where it stands: every record before a point whose events all
lie before ``since`` is older than the span. From there the read is ``bounded.read_topic``'s
for the instant ``until``: on to where the topic is the lateness bound past ``until``, then
the late offsets the ledgers list, then whatever no ledger covers yet. Filtered by event
time, that is the same sequence, per partition in log order, as the read from offset 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from factory_app import events, kafka_clients
from factory_app.replay.log_reader import Record
from factory_app.settings import Settings
from factory_app.snapshots.bounded import DecodedRecord, PartitionPlan, plan, read_topic
from factory_app.snapshots.build import TIMED, lateness_ms

_BEFORE = 0.001  # a point's event-time mark is in whole ms: "all before since" is "at or before since - 1 ms"


def in_span(event_time: float, since: float | None, until: float | None) -> bool:
    """[since, until), either end open when None. Pure."""
    return (since is None or event_time >= since) and (until is None or event_time < until)


@dataclass
class SpanPlan:
    """Per telemetry partition, the read planned for the span, and the counts once read."""

    since: float | None
    until: float | None
    plans: list[PartitionPlan]
    read: dict[int, int] = field(default_factory=dict)  # records read per partition

    @property
    def targets(self) -> dict[TopicPartition, int]:
        """At most what each partition's read takes (for a progress display)."""
        return {p.telemetry.tp: max(0, p.telemetry.limit - p.telemetry.start) for p in self.plans}

    def describe(self) -> dict:
        """What was read, for the artifact that records its span (an auditor's question: from where?)."""
        return {str(p.partition): {"start_offset": p.telemetry.start, "end_offset": p.telemetry.limit,
                                   "read": self.read.get(p.partition, 0),
                                   "snapshot_hwm": None if p.point is None else p.point.hwm}
                for p in self.plans}


async def plan_span(settings: Settings, since: float | None, until: float | None,
                    partitions: list[int] | None = None, full: bool = False) -> SpanPlan:
    """The reads for [since, until) of ``partitions`` (default all); ``full``: from offset 0 to
    the end, as if there were no snapshots (the reference). HistoryGone when retention removed
    records the span may hold (with no ``since``: the span is what is retained)."""
    tel, act = settings.topic(events.TELEMETRY), settings.topic(events.OPERATOR_ACTIONS)
    firsts, ends = await kafka_clients.log_bounds(settings.kafka, [tel, act])
    wanted = sorted(tp.partition for tp in ends if tp.topic == tel)
    if partitions is not None:
        wanted = [p for p in wanted if p in partitions]
    start_at = float("-inf") if since is None else since - _BEFORE
    if full:
        plans = [await plan(settings, p, ends, None, None, full=True) for p in wanted]
    else:  # with no start, "everything retained": nothing to refuse
        plans = [await plan(settings, p, ends, until, None, firsts=None if since is None else firsts,
                            start_at=start_at) for p in wanted]
    return SpanPlan(since, until, plans)


async def span_events(settings: Settings, span: SpanPlan, accepts: tuple = (events.Telemetry,),
                      progress=None) -> AsyncIterator[tuple[Record, object]]:
    """``(record, event)`` for every telemetry event of the span (decodable as ``accepts``),
    partitions one after another, each in log order."""
    if not set(accepts) <= set(TIMED):
        raise ValueError(f"span_events reads {TIMED}, not {accepts}")
    lateness, ahead = lateness_ms(settings) / 1000, settings.worker.max_clock_ahead
    async with kafka_clients.consumer_of(settings.kafka, max_partition_fetch_bytes=4 * 1024 * 1024) as consumer:
        for p in span.plans:
            t = p.telemetry
            done = 0
            async for rec in read_topic(consumer, t, span.until, lateness, ahead):
                done += 1
                if progress is not None and done % 2000 == 0:
                    progress(t.tp, done)
                if isinstance(rec, DecodedRecord):  # decoded as TIMED already: once is enough
                    ev = rec.event
                    if not isinstance(ev, accepts):
                        continue
                else:
                    try:
                        ev = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000, accepts, ahead)
                    except events.DecodeFailure:
                        continue
                if in_span(ev.event_time, span.since, span.until):
                    yield rec, ev
            span.read[p.partition] = done
            if progress is not None:
                progress(t.tp, done)
