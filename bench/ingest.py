"""Stateful ingest throughput, side by side in one run: the project's worker(s) vs a plain loop vs Quix Streams.

  python -m bench.ingest --events 100000 --runs 3

Every contender runs the same job on its own copy of the same events (1,000
assets x 10 tags, ~200-byte JSON telemetry): decode, fold into the asset state
and the per-(asset, tag) tumbling windows.

  faust-1w / faust-2w : the project's Faust worker(s), RocksDB tables with changelogs
  faust-1w-unbatched  : one worker folding event by event (FACTORY_STATE_BATCH_MAX=1)
  faust-1w-perkey     : one worker folding in batches but writing its tables key by key through Faust
                        (FACTORY_BATCHED_TABLES=false)
  faust-1w-rocksdb-bounded : one worker with a smaller RocksDB budget: a 16 MiB shared block cache and
                        16 MiB of memtables (FACTORY_ROCKSDB_BLOCK_CACHE_MB / _MEMTABLES_MB; the
                        defaults are 64 and 32 since the shared budget, tables/rocksdb_memory.py)
  faust-noop          : a Faust agent that only decodes and counts: what Faust costs without tables
  plain               : baseline A, an aiokafka loop folding into dicts (the ceiling)
  quix                : baseline B, Quix Streams with its RocksDB state and changelogs

Each contender is started and warmed up with a first batch of events (so joins,
assignments and table opening are behind it), then N events are produced as
fast as the producer can and the time from the first send to "all N reflected
in the contender's state" is taken. Reported: the median events/s over the runs
and the ratios faust / plain and faust / quix computed within each run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import bench_settings, run_standalone
from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.producer import new_producer
from factory_app.settings import Settings
from harness.helpers import get_json, worker_ready

WARMUP = 2_000
CONTENDERS = ("faust-1w", "faust-1w-unbatched", "faust-1w-perkey", "faust-1w-rocksdb-bounded", "faust-2w",
              "faust-noop", "plain", "quix")
VARIANTS = {"faust-1w-unbatched": {"state_batch_max": 1, "batched_tables": False},
            "faust-1w-perkey": {"batched_tables": False},
            "faust-1w-rocksdb-bounded": {"rocksdb_block_cache_mb": 16, "rocksdb_memtables_mb": 16}}
FAUST_WORKERS = {"faust-1w": 1, "faust-1w-unbatched": 1, "faust-1w-perkey": 1, "faust-1w-rocksdb-bounded": 1,
                 "faust-2w": 2}


def telemetry(n: int, first: int = 0, assets: int = 1000, tags: int = 10, spacing: float = 0.001):
    """n events round-robin over assets and tags, ``spacing`` seconds of event time apart."""
    t0 = 1_790_000_000.0
    for i in range(first, first + n):
        asset = f"asset-{i % assets:04d}"
        yield events.Telemetry(event_id=uuid.UUID(int=i).hex, asset_id=asset, event_time=t0 + i * spacing,
                               tag=f"tag{(i // assets) % tags}", value=float(i % 997) / 7.0, seq=i)


async def produce(settings: Settings, n: int, first: int = 0, spacing: float = 0.001) -> float:
    """Append n events as fast as the producer goes; returns the seconds it took."""
    producer = new_producer(settings, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    start = time.perf_counter()
    last = None
    topic = settings.topic(events.TELEMETRY)
    for ev in telemetry(n, first, spacing=spacing):
        last = await producer.send(topic, events.encode(ev), key=ev.asset_id.encode())
    await last
    await producer.stop()
    return time.perf_counter() - start


class Contender:
    """A running contender: how to read how many events it has folded, and how to stop it."""

    def __init__(self, folded: Callable[[], int], processes: list[Child], web_ports: tuple[int, ...] = ()):
        self.folded, self.processes, self.web_ports = folded, processes, web_ports

    def stop(self) -> None:
        for p in self.processes:
            if p.alive():
                p.stop(timeout=20)


def start_faust(settings: Settings, workers: int) -> Contender:
    group = [settings.updated({"web_port": free_port(), "worker_data": settings.home / f"w{i}"})
             for i in range(workers)]
    procs = [Child(f"faust-w{i}", ["worker"], settings.home / "logs", env=s.to_env())
             for i, s in enumerate(group)]
    wait_until(lambda: all(worker_ready(s) for s in group), 180, what="workers ready")

    def folded() -> int:
        # The workers' own count (/ready/), not a dump of their tables: polling a 1,000-asset
        # dump every 0.2 s cost the measured worker ~7 % of its samples (bench.profile).
        return sum(get_json(f"http://127.0.0.1:{s.web.port}/ready/", timeout=30)["events_processed"] for s in group)
    return Contender(folded, procs, tuple(s.web.port for s in group))


def start_baseline(settings: Settings, which: str, total: int, probe_log: Path | None = None) -> Contender:
    progress = settings.home / f"{which}.progress"
    settings.home.mkdir(parents=True, exist_ok=True)
    extra = ["--probe-log", str(probe_log)] if probe_log is not None else []
    proc = Child(which, [which, "--bootstrap", settings.kafka.bootstrap, "--topic", settings.topic(events.TELEMETRY),
                         "--events", str(total), "--progress", str(progress),
                         "--state-dir", str(settings.home / "quix-state"), *extra],
                 settings.home / "logs", module="bench.contenders")

    def folded() -> int:
        try:
            return int(progress.read_text())
        except (FileNotFoundError, ValueError):
            return 0
    return Contender(folded, [proc])


def measure(broker, root: Path, which: str, n: int, log) -> float:
    """events/s of one contender on its own fresh topics: first send -> all n reflected."""
    settings = bench_settings(broker, root, processors=["telemetry-state"], **VARIANTS.get(which, {}))
    if which in FAUST_WORKERS:
        contender = start_faust(settings, FAUST_WORKERS[which])
    else:
        contender = start_baseline(settings, which, WARMUP + n)
    try:
        asyncio.run(produce(settings, WARMUP))
        wait_until(lambda: contender.folded() >= WARMUP, 300, interval=0.2, what=f"{which} warm-up")
        start = time.perf_counter()
        asyncio.run(produce(settings, n, first=WARMUP))
        last = [0.0]

        def done() -> bool:
            got = contender.folded()
            if time.perf_counter() - last[0] > 5:
                last[0] = time.perf_counter()
                log(f"    {which}: {got - WARMUP:,}/{n:,}")
            return got >= WARMUP + n
        wait_until(done, 3600, interval=0.2, what=f"{which} to fold {n} events")
        return n / (time.perf_counter() - start)
    finally:
        contender.stop()


def run(broker, root: Path, n: int, runs: int, contenders=CONTENDERS, log=print) -> dict:
    per_run: list[dict[str, float]] = []
    for r in range(runs):
        rates: dict[str, float] = {}
        for which in contenders:
            log(f"  run {r + 1}/{runs}: {which}")
            rates[which] = measure(broker, root, which, n, log)
            log(f"  run {r + 1}/{runs}: {which} {rates[which]:,.0f} events/s")
        settings = bench_settings(broker, root)
        rates["producer_alone"] = n / asyncio.run(produce(settings, n))
        per_run.append(rates)
    median = {k: statistics.median(r[k] for r in per_run) for k in per_run[0]}
    ratios = {}
    for ours in ("faust-1w", "faust-2w"):
        for base in ("plain", "quix", "faust-1w-unbatched", "faust-1w-perkey", "faust-1w-rocksdb-bounded", "faust-noop"):
            if ours in median and base in median and ours != base:
                ratios[f"{ours}/{base}"] = statistics.median(r[ours] / r[base] for r in per_run)
    return {"events": n, "warmup": WARMUP, "runs": per_run, "median_events_per_s": median,
            "median_ratios": ratios}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=CONTENDERS, default=list(CONTENDERS))
    ap.add_argument("--name", default="ingest", help="results as bench/results/NAME.json")
    args = ap.parse_args()
    run_standalone(args.name, lambda broker, root, log: run(broker, root, args.events, args.runs,
                                                            tuple(args.only), log))


if __name__ == "__main__":
    main()
