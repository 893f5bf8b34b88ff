"""Plan and execute a move of a consumer group's committed offsets (like kafka-consumer-groups --reset-offsets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from aiokafka import TopicPartition

from factory_app.kafka_clients import consumer_of, partitions_of
from factory_app.replay.groups import commit_offsets, committed_offsets, require_idle
from factory_app.settings import Settings


@dataclass(frozen=True)
class Target:
    """Where to move: kind is earliest | latest | offset | time | shift."""

    kind: str
    value: int | float | None = None

    def describe(self) -> str:
        if self.kind == "time":
            return f"time {datetime.fromtimestamp(self.value, timezone.utc).isoformat()}"
        return self.kind if self.value is None else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class PlanRow:
    tp: TopicPartition
    current: int | None
    target: int
    earliest: int
    end: int

    @property
    def lag_after(self) -> int:
        return self.end - self.target


def parse_time(text: str) -> float:
    """Epoch seconds from an ISO-8601 datetime (naive = UTC) or a number of epoch seconds/ms."""
    try:
        number = float(text)
    except ValueError:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a time: use ISO-8601 (2026-11-26T08:00:00, UTC if no zone) "
                             f"or epoch seconds") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    return number / 1000.0 if number > 1e11 else number  # milliseconds if it is that large


async def plan(settings: Settings, group: str, topics: list[str] | None, target: Target) -> list[PlanRow]:
    """Per partition: current committed offset, target offset, earliest and end offsets.

    ``topics`` default to the topics the group has committed offsets on (its inputs).
    Targets are clamped to [earliest, end], as Kafka's own tool does.
    """
    committed = await committed_offsets(settings, group)
    names = topics or sorted({tp.topic for tp in committed})
    if not names:
        raise ValueError(f"group {group!r} has no committed offsets; name the topics with --topic")
    async with consumer_of(settings.kafka) as consumer:
        tps = [tp for name in names for tp in await partitions_of(consumer, name)]
        missing = [n for n in names if not any(tp.topic == n for tp in tps)]
        if missing:
            raise ValueError(f"no such topic(s): {', '.join(missing)}")
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        by_time = {}
        if target.kind == "time":
            found = await consumer.offsets_for_times({tp: int(target.value * 1000) for tp in tps})
            by_time = {tp: (ot.offset if ot is not None else ends[tp]) for tp, ot in found.items()}
    rows = []
    for tp in tps:
        current = committed.get(tp)
        if target.kind == "earliest":
            wanted = begins[tp]
        elif target.kind == "latest":
            wanted = ends[tp]
        elif target.kind == "offset":
            wanted = int(target.value)
        elif target.kind == "time":
            wanted = by_time[tp]
        elif target.kind == "shift":
            wanted = (current if current is not None else begins[tp]) + int(target.value)
        else:
            raise ValueError(f"unknown target {target.kind!r}")
        rows.append(PlanRow(tp, current, max(begins[tp], min(ends[tp], wanted)), begins[tp], ends[tp]))
    return rows


async def execute(settings: Settings, group: str, rows: list[PlanRow]) -> None:
    """Commit the plan's targets; refuses (GroupActive) while the group has members."""
    await require_idle(settings, group)
    await commit_offsets(settings, group, {r.tp: r.target for r in rows})
