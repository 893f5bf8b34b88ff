"""A progress display for long reads of the log: offsets consumed / end offsets, rate, time left."""

from __future__ import annotations

from contextlib import contextmanager

from aiokafka import TopicPartition

from factory_app import metrics
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class _Rate(TextColumn):
    def __init__(self):
        super().__init__("")

    def render(self, task):
        speed = task.finished_speed or task.speed
        return f"{speed:,.0f} ev/s" if speed else "- ev/s"


@contextmanager
def log_progress(stops: dict[TopicPartition, int], title: str, console: Console | None = None,
                 per_partition: bool = False):
    """Yields a callback ``(tp, consumed_in_tp)`` that advances one bar per topic and a total bar
    (``per_partition``: one per partition too, for a read split across processes by partition)."""
    console = console or Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                        _Rate(), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                        disable=not stops)
    topics = sorted({tp.topic for tp in stops})
    for t in topics:  # the same progress for Prometheus (served when the command has --metrics-port)
        metrics.REPLAY_TARGET.labels(title, t).set(sum(v for tp, v in stops.items() if tp.topic == t))
        metrics.REPLAY_CONSUMED.labels(title, t).set(0)
    with progress:
        total = progress.add_task(f"{title} (all)", total=sum(stops.values()))
        per_topic = {t: progress.add_task(f"  {t}", total=sum(v for tp, v in stops.items() if tp.topic == t))
                     for t in topics}
        per_tp = ({tp: progress.add_task(f"    [{tp.partition}] {tp.topic}", total=stops[tp])
                   for tp in sorted(stops, key=lambda t: (t.topic, t.partition)) if stops[tp]}
                  if per_partition else {})
        seen: dict[TopicPartition, int] = {}

        def advance(tp: TopicPartition, consumed: int) -> None:
            delta = consumed - seen.get(tp, 0)
            seen[tp] = consumed
            progress.advance(per_topic[tp.topic], delta)
            if tp in per_tp:
                progress.advance(per_tp[tp], delta)
            progress.advance(total, delta)
            metrics.REPLAY_CONSUMED.labels(title, tp.topic).inc(delta)
        yield advance
