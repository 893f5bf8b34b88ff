"""Stateful ingest vs rebuild throughput of the telemetry-state processor, side by side in one run.

  python -m bench.state_throughput --events 200000

1. live: a ready worker (real agents, RocksDB, changelogs); produce N telemetry
   events (1,000 assets x 10 tags) and time from the first send until every
   event is reflected in asset_state (sum of per-asset event counts == N);
3. rebuild: `factory rebuild asset_state tag_windows` over the same log, timed;
4. ceiling: a plain aiokafka loop that decodes the events and folds them into a dict.
Each is reported in events/s, with ratios computed from this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid

from bench.common import bench_broker, bench_settings, write_result
from factory_app import events
from factory_app.children import Child, wait_until
from factory_app.consumers import partitions_of, start_consumer
from factory_app.producer import new_producer
from tables.asset_state import apply_event


def make(n: int, assets: int = 1000, tags: int = 10):
    t0 = 1_790_000_000.0
    for i in range(n):
        asset = f"asset-{i % assets:04d}"
        yield events.Telemetry(event_id=uuid.UUID(int=i).hex, asset_id=asset, event_time=t0 + i * 0.001,
                               tag=f"tag{(i // assets) % tags}", value=float(i % 997) / 7.0, seq=i)


async def produce(settings, n: int) -> float:
    producer = new_producer(settings, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    start = time.perf_counter()
    last = None
    for i, ev in enumerate(make(n)):
        last = await producer.send(settings.topic(events.TELEMETRY), events.encode(ev), key=ev.asset_id.encode())
        if i % 20000 == 0:
            print(f"  produced {i}/{n}", file=sys.stderr, flush=True)
    await last
    await producer.stop()
    return time.perf_counter() - start


async def ceiling(settings, n: int) -> float:
    """A plain consumer loop: decode each event once, fold it into a dict. No framework."""
    consumer = await start_consumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False,
                                    max_partition_fetch_bytes=4 * 1024 * 1024)
    tps = await partitions_of(consumer, settings.topic(events.TELEMETRY))
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    state: dict = {}
    seen = 0
    start = time.perf_counter()
    while seen < n:
        batch = await consumer.getmany(timeout_ms=500, max_records=10000)
        for recs in batch.values():
            for rec in recs:
                ev = events.decode(rec.value)
                state[ev.asset_id] = apply_event(state.get(ev.asset_id), ev)
                seen += 1
    elapsed = time.perf_counter() - start
    await consumer.stop()
    return elapsed


def total_events(settings) -> int:
    from tests.helpers import table_dump
    return sum(s["events"] for s in table_dump(settings, "asset_state").values() if s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    args = ap.parse_args()
    n = args.events
    with bench_broker() as (broker, root):
        settings = bench_settings(broker, root, processors=["telemetry-state"])
        from tests.helpers import settings_env
        env = settings_env(settings)
        print("live worker: ready first, then produce; timed from first send to all reflected", file=sys.stderr)
        worker = Child("bench-worker", ["worker"], settings.home / "logs", env=env)
        try:
            from tests.helpers import wait_ready
            wait_ready(settings, 120)
            start = time.perf_counter()
            produce_s = asyncio.run(produce(settings, n))
            wait_until(lambda: (print(f"  live: {total_events(settings)}/{n}", file=sys.stderr, flush=True)
                                or total_events(settings) >= n), 3600, interval=1.0, what="live catch-up")
            live_s = time.perf_counter() - start
        finally:
            worker.stop()

        print("rebuild ...", file=sys.stderr)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "factory_app", "rebuild", "asset_state", "tag_windows"],
                       env={**os.environ, **env}, check=True)
        rebuild_s = time.perf_counter() - start

        print("ceiling (plain aiokafka loop) ...", file=sys.stderr)
        ceiling_s = asyncio.run(ceiling(settings, n))

    rates = {"produce": n / produce_s, "live_worker": n / live_s, "rebuild": n / rebuild_s,
             "plain_consumer_ceiling": n / ceiling_s}
    result = {"events": n, "events_per_s": rates,
              "ratios": {"rebuild/live": rates["rebuild"] / rates["live_worker"],
                         "live/ceiling": rates["live_worker"] / rates["plain_consumer_ceiling"]}}
    print(result)
    write_result("state_throughput", result)


if __name__ == "__main__":
    main()
