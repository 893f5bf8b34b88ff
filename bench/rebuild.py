"""Rebuild throughput: ``factory rebuild asset_state tag_windows`` over N logged events.

  python -m bench.rebuild --events 1000000 --runs 3 [--processes 1 2 4]

Produces N events (1,000 assets x 10 tags), points the worker group's committed
offsets at the end of the log (``factory rewind --to-latest --execute``: rebuild
folds up to the committed offsets), then times each rebuild run: fold the log,
rewrite both changelogs, delete local state. The same log is rebuilt ``--runs``
times; the median is reported. With ``--processes``: the same for each process count
(``factory rebuild --processes N``), in rounds so each count runs beside the same load,
and the speed-ups against one process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from bench.common import bench_settings, run_standalone
from bench.ingest import produce


def factory(settings, *args: str, quiet: bool = False) -> None:
    subprocess.run([sys.executable, "-m", "factory_app", *args], env={**os.environ, **settings.to_env()},
                   check=True, stdout=subprocess.DEVNULL if quiet else None)


def run(broker, root, n: int, runs: int, log=print, processes: tuple[int, ...] = (1,)) -> dict:
    settings = bench_settings(broker, root, processors=["telemetry-state"])
    log(f"  producing {n:,} events")
    produce_s = asyncio.run(produce(settings, n))
    factory(settings, "rewind", "--to-latest", "--execute", "--topic", settings.topic("telemetry"), quiet=True)
    rates: dict[int, list[float]] = {p: [] for p in processes}
    for r in range(runs):
        for p in processes:
            start = time.perf_counter()
            factory(settings, "rebuild", "asset_state", "tag_windows", "--processes", str(p), quiet=True)
            rates[p].append(n / (time.perf_counter() - start))
            log(f"  rebuild {r + 1}/{runs}, {p} process(es): {rates[p][-1]:,.0f} events/s")
    out = {"events": n, "produce_events_per_s": n / produce_s, "rebuild_events_per_s": rates[processes[0]],
           "median_rebuild_events_per_s": statistics.median(rates[processes[0]])}
    if len(processes) > 1:
        out["by_processes"] = {str(p): {"runs": rates[p], "median": statistics.median(rates[p]),
                                        "median_speedup_vs_1": statistics.median(
                                            a / b for a, b in zip(rates[p], rates[processes[0]]))}
                               for p in processes}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--processes", type=int, nargs="+", default=[1])
    args = ap.parse_args()
    name = "rebuild" if args.processes == [1] else "rebuild-processes"
    run_standalone(name, lambda broker, root, log: run(broker, root, args.events, args.runs, log,
                                                       tuple(args.processes)))


if __name__ == "__main__":
    main()
