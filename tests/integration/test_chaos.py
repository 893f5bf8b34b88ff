"""Workers killed with SIGKILL at random moments while telemetry flows: state still equals the log's fold.

The short variant runs in CI (3 workers, 8 partitions, 100,000 events, >= 20 kills);
FACTORY_CHAOS_LONG=1 runs 1,000,000 events and >= 100 kills.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

import pytest

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.producer import new_producer
from tests import reference_fold as ref
from tests.helpers import get_json, read_topic, start_worker, worker_ready

pytestmark = pytest.mark.integration
LONG = os.environ.get("FACTORY_CHAOS_LONG") == "1"
N_EVENTS = 1_000_000 if LONG else 100_000
MIN_KILLS = 100 if LONG else 20


async def produce_steadily(settings, n: int, rate: float, done: threading.Event) -> None:
    rng = random.Random(3)
    producer = new_producer(settings, linger_ms=10)
    await producer.start()
    start = time.monotonic()
    last = None
    for i in range(n):
        ev = events.Telemetry(event_id=f"e{i}", asset_id=f"asset-{rng.randrange(200):03d}",
                              event_time=1_800_000_000.0 + i * 0.01, tag=f"t{rng.randrange(5)}",
                              value=round(rng.uniform(0, 100), 3), seq=i)
        last = await producer.send(settings.topic(events.TELEMETRY), events.encode(ev), key=ev.asset_id.encode())
        if i % 500 == 0:
            ahead = i / rate - (time.monotonic() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)
    await last
    await producer.stop()
    done.set()


def union_dump(workers_settings, table):
    out = {}
    for s in workers_settings:
        out.update(get_json(f"http://127.0.0.1:{s.web_port}/tables/{table}/"))
    return out


def test_random_worker_kills_lose_and_double_nothing(settings, children):
    settings = settings.model_copy(update={"window_seconds": 100.0, "processors": ["telemetry-state"]})
    group = [settings.model_copy(update={"web_port": free_port(), "worker_data": settings.home / f"w{i}"})
             for i in range(3)]
    workers = [start_worker(s, f"w{i}") for i, s in enumerate(group)]
    children.extend(workers)
    wait_until(lambda: all(worker_ready(s) for s in group), 120, what="3 workers ready")

    done = threading.Event()
    producer = threading.Thread(target=lambda: asyncio.run(produce_steadily(settings, N_EVENTS, 2_000, done)))
    producer.start()
    rng = random.Random(17)
    kills = 0
    generation = 0
    while not done.is_set() or kills < MIN_KILLS:
        time.sleep(rng.uniform(0.5, 2.5))
        victim = rng.randrange(3)
        workers[victim].kill()
        kills += 1
        generation += 1
        workers[victim] = start_worker(group[victim], f"w{victim}-{generation}")
        children.append(workers[victim])
    producer.join()

    def total():
        if not all(worker_ready(s) for s in group):
            return None
        n = sum(st["events"] for st in union_dump(group, "asset_state").values() if st)
        return n if n >= N_EVENTS else None
    wait_until(total, 600, interval=2, what="every event in state after the kills")

    records = asyncio.run(read_topic(settings, events.TELEMETRY))
    assert sum(len(r) for r in records.values()) == N_EVENTS
    state = union_dump(group, "asset_state")
    assert ref.projection_state(state) == ref.fold_state(records), "state differs from the log's fold"
    got_w = ref.projection_windows(union_dump(group, "tag_windows"))
    want_w = ref.fold_windows(records, settings.window_seconds)
    assert got_w.keys() == want_w.keys()
    for key, agg in want_w.items():
        assert got_w[key]["count"] == agg["count"], key
    assert kills >= MIN_KILLS
