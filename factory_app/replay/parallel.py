"""A fold split by partition across processes: each folds its share, the parent gathers the tables.

Keys never span partitions (every table is per asset, and an asset's events are one
partition's), so folding partitions apart and putting their tables side by side is the
same fold. Each process reads its partitions itself; progress comes back over a queue.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
from concurrent.futures import ProcessPoolExecutor

from aiokafka import TopicPartition

from factory_app.config import PlantConfig
from factory_app.replay.projections import folds, group_by_processor
from factory_app.settings import Settings


def shares(stops: dict[TopicPartition, int], processes: int) -> list[dict[TopicPartition, int]]:
    """The partitions dealt to ``processes`` shares, biggest first onto the lightest share (all of
    one partition's topics together: a processor folds them merged). Pure."""
    by_partition: dict[int, dict[TopicPartition, int]] = {}
    for tp, off in stops.items():
        by_partition.setdefault(tp.partition, {})[tp] = off
    out: list[dict[TopicPartition, int]] = [{} for _ in range(max(1, min(processes, len(by_partition))))]
    load = [0] * len(out)
    for part in sorted(by_partition, key=lambda p: -sum(by_partition[p].values())):
        i = load.index(min(load))
        out[i].update(by_partition[part])
        load[i] += sum(by_partition[part].values())
    return [s for s in out if s]


def _fold_share(settings: Settings, plant: PlantConfig | None, tables: list[str], stops: dict, progress_q) -> tuple:
    """In a child process: fold one share; its tables per processor and partition (plain data)."""
    from factory_app.replay.rebuild import fold_partitions

    def progress(tp, consumed):
        progress_q.put((tp.topic, tp.partition, consumed))
    result = asyncio.run(fold_partitions(settings, plant, tables, stops, progress))
    return {f.processor: f.by_partition for f in result.folds}, result.commands_computed


async def fold_in_processes(settings: Settings, plant: PlantConfig | None, tables: list[str],
                            stops: dict[TopicPartition, int], processes: int, advance=None):
    """``rebuild.fold_partitions`` over all of ``stops``, in ``processes`` processes."""
    from factory_app.replay.rebuild import FoldResult

    ctx = multiprocessing.get_context("spawn")  # no forked copy of this process's event loop and clients
    with multiprocessing.Manager() as manager, ProcessPoolExecutor(len(shares(stops, processes)),
                                                                   mp_context=ctx) as pool:
        progress_q = manager.Queue()
        loop = asyncio.get_running_loop()
        jobs = [loop.run_in_executor(pool, _fold_share, settings, plant, tables, share, progress_q)
                for share in shares(stops, processes)]
        pending = asyncio.gather(*jobs)
        while not pending.done():
            await asyncio.wait([pending], timeout=0.2)
            _drain(progress_q, advance)
        parts = pending.result()
        _drain(progress_q, advance)
    makers = folds(settings, plant)
    active = [makers[p]() for p in group_by_processor(tables, settings, plant)]
    for f in active:
        for by_partition, computed in parts:
            f.by_partition.update(by_partition.get(f.processor, {}))
    if active:
        active[0].commands_computed = sum(c for _, c in parts)  # the total, once: FoldResult sums the folds'
    return FoldResult(active, stops)


def _drain(progress_q, advance) -> None:
    while True:
        try:
            topic, partition, consumed = progress_q.get_nowait()
        except queue.Empty:
            return
        if advance is not None:
            advance(TopicPartition(topic, partition), consumed)
