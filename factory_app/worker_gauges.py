"""Periodic gauges of a worker: consumer lag per assigned partition and table sizes."""

from __future__ import annotations

import faust

from factory_app import metrics


def register_gauges(app: faust.App, tables: dict[str, faust.Table], interval: float = 10.0) -> None:
    """Refresh lag and table-size gauges every ``interval`` seconds (off the event path)."""

    @app.timer(interval)
    async def refresh_gauges() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            if tp.topic.endswith("-changelog") or "__assignor" in tp.topic:
                continue
            end = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)  # noqa: SLF001 (Faust keeps no public getter)
            if end is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - (committed or 0)))
        for name, table in tables.items():
            metrics.TABLE_KEYS.labels(name).set(sum(1 for _ in table.keys()))
