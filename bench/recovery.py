"""Worker resume time with local RocksDB state vs after losing it (changelog restore), 100,000 keys.

  python -m bench.recovery --keys 100000

Also records the worker's peak resident memory (VmHWM) while it holds the keys.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path

from bench.common import bench_broker, bench_settings, write_result
from factory_app import events
from factory_app.children import Child, wait_until
from factory_app.producer import new_producer
from tests.helpers import settings_env, table_dump, worker_ready


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
    worker = Child(name, ["worker"], settings.home / "logs", env=settings_env(settings))
    wait_until(lambda: worker_ready(settings), 600, interval=0.1, what=f"{name} ready")
    return worker, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    n = ap.parse_args().keys
    with bench_broker() as (broker, root):
        settings = bench_settings(broker, root, processors=["telemetry-state"])
        worker, cold = timed_start(settings, "w0")
        print(f"empty worker ready in {cold:.1f}s; producing {n} keys", file=sys.stderr)
        asyncio.run(produce(settings, n))
        wait_until(lambda: len(table_dump(settings, "asset_state")) >= n, 1800, interval=2,
                   what="all keys in state")
        rss = peak_rss_mb(worker.proc.pid)
        worker.stop()

        worker, with_local = timed_start(settings, "w1-local")
        assert len(table_dump(settings, "asset_state")) == n
        worker.stop()
        print(f"resume with local state: {with_local:.1f}s", file=sys.stderr)

        shutil.rmtree(settings.data_dir)
        worker, restore = timed_start(settings, "w2-restore")
        assert len(table_dump(settings, "asset_state")) == n
        worker.stop()
        print(f"resume after losing local state: {restore:.1f}s", file=sys.stderr)
    result = {"keys": n, "tables": ["asset_state", "tag_windows"], "keys_restored": 3 * n,
              "seconds": {"empty_start": cold, "resume_with_local_state": with_local,
                          "resume_after_changelog_restore": restore},
              "ratio_restore/local": restore / with_local, "worker_peak_rss_mb": rss}
    print(result)
    write_result("recovery", result)


if __name__ == "__main__":
    main()
