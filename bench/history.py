"""History at plant scale: time travel from snapshots against the fold from offset 0, in the same run.

  python -m bench.history --events 1000000 [--events 10000000] [--live-events 100000]

For each log length: produce N events (1,000 assets x 10 tags, 1 ms of event time apart:
a plant of 1,000 events/s), build the snapshots (``factory snapshots build``: time, points,
bytes), then ask ``state-at`` for one asset and for all assets at an instant 2 s after the
log's first event and 2 s before its last, once from offset 0 (``--full``: the cost before
snapshots) and once from the snapshots, each answer checked equal to the other; and the plant
view's time travel (``/api/state-at``) near the end. Then the live path: the worker's
throughput with the snapshot builder following the log beside it, against without it (a ratio,
side by side, three alternations).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import urllib.request

from bench.common import bench_settings, run_standalone
from bench.ingest import WARMUP, produce, start_faust
from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.replay.state_at import Reads, state_at
from factory_app.snapshots.build import SnapshotBuilder
from factory_app.snapshots.store import SnapshotStore

T0 = 1_790_000_000.0  # bench.ingest.telemetry's first event time; one event per ms after it


def timed_state_at(settings, at: float, asset: str | None, full: bool) -> tuple[float, int, dict]:
    reads = Reads()
    start = time.perf_counter()
    states = asyncio.run(state_at(settings, at, asset=asset, reads=reads, full=full))
    return time.perf_counter() - start, reads.read, states


def view_time_travel(settings, at: float) -> float:
    """Seconds from the request to the result event of the plant view's time travel."""
    ui = settings.updated({"ui_port": free_port()})
    child = Child("ui", ["ui"], settings.home / "logs", env=ui.to_env())
    base = f"http://127.0.0.1:{ui.web.ui_port}"
    try:
        wait_until(lambda: _answers(base + "/api/overview"), 60, what="the plant view")
        start = time.perf_counter()
        with urllib.request.urlopen(f"{base}/api/state-at?t={at}", timeout=1800) as resp:
            for line in resp:
                if line.startswith(b"event: result"):
                    return time.perf_counter() - start
        raise RuntimeError("the time travel ended without a result")
    finally:
        child.stop()


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).read()
        return True
    except OSError:
        return False


def one_log(broker, root, n: int, log, every: int | None = None) -> dict:
    settings = bench_settings(broker, root, processors=["telemetry-state"],
                              **({"snapshot_every_events": every} if every else {}))
    log(f"  producing {n:,} events")
    produce_s = asyncio.run(produce(settings, n))
    log(f"  building snapshots (every {settings.worker.snapshot_every_events:,} records per partition)")
    start = time.perf_counter()
    builder = SnapshotBuilder(settings, None)
    points = asyncio.run(builder.run_once())
    build_s = time.perf_counter() - start
    store = SnapshotStore(settings.snapshots_dir)
    out: dict = {"events": n, "produce_s": produce_s, "snapshots": {
        "build_s": build_s, "events_per_s": n / build_s, "points": points, "bytes": store.size_bytes()}}
    last = T0 + (n - 1) * 0.001
    for where, at in (("near_start", T0 + 2.0), ("near_end", last - 2.0)):
        for who in ("asset-0007", None):
            name = f"{where}/{'one_asset' if who else 'all_assets'}"
            full_s, full_read, full_states = timed_state_at(settings, at, who, True)
            snap_s, snap_read, snap_states = timed_state_at(settings, at, who, False)
            if snap_states != full_states:
                raise AssertionError(f"{name}: the answers differ")
            out[name] = {"from_offset_0_s": full_s, "from_offset_0_read": full_read, "snapshots_s": snap_s,
                         "snapshots_read": snap_read, "speedup": full_s / snap_s, "assets": len(snap_states)}
            log(f"  {name}: from offset 0 {full_s:.2f} s ({full_read:,} records), from snapshots {snap_s:.3f} s "
                f"({snap_read:,} records), equal")
    out["view_time_travel_near_end_s"] = view_time_travel(settings, last - 2.0)
    log(f"  plant view time travel near the end: {out['view_time_travel_near_end_s']:.3f} s")
    return out


def live_rate(broker, root, n: int, with_builder: bool, log, nice: int | None = None) -> float:
    """events/s the worker folds (first send -> all reflected), with or without the builder beside it."""
    settings = bench_settings(broker, root, processors=["telemetry-state"])
    contender = start_faust(settings, 1)
    extra = {"snapshots_metrics_port": 0, **({"snapshot_nice": nice} if nice is not None else {})}
    builder = (Child("snapshots", ["snapshots", "build", "--follow", "--poll", "0.5"], settings.home / "logs",
                     env=settings.updated(extra).to_env()) if with_builder else None)
    try:
        asyncio.run(produce(settings, WARMUP))
        wait_until(lambda: contender.folded() >= WARMUP, 300, interval=0.2, what="warm-up")
        start = time.perf_counter()
        asyncio.run(produce(settings, n, first=WARMUP))
        wait_until(lambda: contender.folded() >= WARMUP + n, 3600, interval=0.2, what=f"the worker to fold {n}")
        rate = n / (time.perf_counter() - start)
        log(f"  live {'with' if with_builder else 'without'} the snapshot builder: {rate:,.0f} events/s")
        return rate
    finally:
        contender.stop()
        if builder is not None:
            builder.stop()


def run(broker, root, sizes: list[int], live_events: int, runs: int, log=print, nice: int | None = None,
        every: int | None = None) -> dict:
    result: dict = {"snapshot_every_events": every, "logs": [one_log(broker, root, n, log, every) for n in sizes]}
    if not runs:  # --runs 0: the history reads only
        return result
    pairs = []
    for r in range(runs):
        order = (False, True) if r % 2 == 0 else (True, False)  # alternate: neither side always goes first
        rates = {w: live_rate(broker, root, live_events, w, log, nice) for w in order}
        pairs.append(rates)
    result["live"] = {"events": live_events, "builder_nice": nice, "runs": [{"without": p[False], "with": p[True]} for p in pairs],
                      "median_ratio_with_over_without": statistics.median(p[True] / p[False] for p in pairs)}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, action="append", help="a log length (repeatable; default 1,000,000)")
    ap.add_argument("--live-events", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3, help="alternations of the live path (0: none)")
    ap.add_argument("--live-only", action="store_true", help="only the live path with and without the builder")
    ap.add_argument("--nice", type=int, default=None, help="the builder's niceness (FACTORY_SNAPSHOT_NICE)")
    ap.add_argument("--every", type=int, default=None,
                    help="records per partition between snapshot points (default: the setting's)")
    args = ap.parse_args()
    sizes = [] if args.live_only else (args.events or [1_000_000])
    name = "history-live" if args.live_only else "history" + (f"-every{args.every}" if args.every else "")
    run_standalone(name, lambda broker, root, log: run(broker, root, sizes, args.live_events, args.runs, log,
                                                       args.nice, args.every))


if __name__ == "__main__":
    main()
