"""Worker resume time with local RocksDB state vs after losing it (changelog restore), 100,000 keys.

  python -m bench.recovery --keys 100000 --runs 3

Also records the worker's peak resident memory (VmHWM) while it holds the keys.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import time
from pathlib import Path

from bench.common import bench_settings, run_standalone
from factory_app import events
from factory_app.children import Child, wait_until
from factory_app.producer import new_producer
from harness.helpers import table_dump, worker_ready


async def produce(settings, keys: int) -> None:
    producer = new_producer(settings, linger_ms=20)
    await producer.start()
    last = None
    for i in range(keys):
        ev = events.Telemetry(event_id=f"e{i}", asset_id=f"asset-{i:06d}", event_time=1_790_000_000.0 + i,
                              tag="temperature", value=float(i))
        last = await producer.send(settings.topic(events.TELEMETRY), events.encode(ev), key=ev.asset_id.encode())
    await last
    await producer.stop()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_start(settings, name: str) -> tuple[Child, float]:
    start = time.perf_counter()
    worker = Child(name, ["worker"], settings.home / "logs", env=settings.to_env())
    try:
        wait_until(lambda: worker_ready(settings), 600, interval=0.1, what=f"{name} ready")
    except BaseException:
        worker.stop()
        raise
    return worker, time.perf_counter() - start


def run(broker, root, n: int, runs: int, log=print) -> dict:
    settings = bench_settings(broker, root, processors=["telemetry-state"])
    worker = None
    try:
        worker, cold = timed_start(settings, "w0")
        log(f"  empty worker ready in {cold:.1f}s; folding {n:,} keys")
        asyncio.run(produce(settings, n))
        wait_until(lambda: len(table_dump(settings, "asset_state", timeout=30)) >= n, 3600, interval=2,
                   what="all keys in state")
        rss = peak_rss_mb(worker.proc.pid)
        worker.stop()
        local, restore = [], []
        for r in range(runs):
            worker, seconds = timed_start(settings, f"w{r}-local")
            assert len(table_dump(settings, "asset_state", timeout=30)) == n
            worker.stop()
            local.append(seconds)
            shutil.rmtree(settings.data_dir)
            worker, seconds = timed_start(settings, f"w{r}-restore")
            assert len(table_dump(settings, "asset_state", timeout=30)) == n
            worker.stop()
            restore.append(seconds)
            log(f"  run {r + 1}/{runs}: resume with local state {local[-1]:.1f}s, after losing it {restore[-1]:.1f}s")
    finally:  # also when interrupted: no worker outlives the benchmark
        if worker is not None and worker.alive():
            worker.stop()
    return {"keys": n, "tables": ["asset_state", "tag_windows"], "keys_restored": 3 * n,
            "seconds": {"empty_start": cold, "resume_with_local_state": statistics.median(local),
                        "resume_after_changelog_restore": statistics.median(restore)},
            "runs": {"local": local, "restore": restore},
            "median_ratio_restore/local": statistics.median(b / a for a, b in zip(local, restore)),
            "worker_peak_rss_mb": rss}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    run_standalone("recovery", lambda broker, root, log: run(broker, root, args.keys, args.runs, log))


if __name__ == "__main__":
    main()
