"""Failover: how long a dead worker's assets go without a control decision.

  python -m bench.failover --workers 2 --kills 10 [--hog] [--configs session-10s liveness-1s-standby]

Starts its own broker, N workers in one group (telemetry-state and control) over a plant of
thermostats (bench.whatif_span's plant, fewer assets), and a producer that sends each asset's
temperature ``--hz`` times a second, alternating across the thermostat's band so that every
reading decides a command. A command's record time on the commands topic is when it was decided.
Then, ``--kills`` times: SIGKILL one worker and leave it dead until every asset has a command
after the kill; per asset, the gap from its last command before the kill to its first after.
The worst asset's gap is the failover (the kill lands at a random point between two readings,
so a gap of one reading period is no pause at all). Then the worker is started again as a new
member, and the longest gap between two commands of any asset while it rejoins is measured too
(an eager rebalance stops every worker for a moment).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict

from bench.common import bench_settings, run_standalone
from bench.whatif_span import write_plant
from factory_app import events, kafka_clients
from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.producer import new_producer
from factory_app.settings import Settings
from factory_app.topics import FAST_COMPACTION
from harness.helpers import start_worker, worker_ready


class Decisions:
    """The commands topic followed from its start: each asset's command record times (s)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.times: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._follow()), name="decisions", daemon=True)

    async def _follow(self) -> None:
        topic = self.settings.topic(events.COMMANDS)
        async with kafka_clients.consumer_of(self.settings.kafka) as consumer:
            tps = await kafka_clients.partitions_of(consumer, topic)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not self.stop.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                with self.lock:
                    for records in batch.values():
                        for rec in records:
                            cmd = events.decode(rec.value, expect=(events.Command,))
                            self.times[cmd.asset_id].append(rec.timestamp / 1000)

    def gap_across(self, asset: str, at: float) -> float | None:
        """Seconds from the asset's last command before ``at`` to its first after; None: none after yet."""
        with self.lock:
            ts = self.times.get(asset, [])
            before = [t for t in ts if t < at]
            after = [t for t in ts if t >= at]
        if not after:
            return None
        return min(after) - (max(before) if before else at)

    def longest_gap_within(self, asset: str, since: float, until: float) -> float:
        with self.lock:
            ts = sorted(t for t in self.times.get(asset, []) if since <= t <= until)
        edges = [since, *ts, until]
        return max(b - a for a, b in zip(edges, edges[1:]))


def readings(settings: Settings, assets: list[str], hz: float, stop: threading.Event) -> threading.Thread:
    """Each asset's tag0 ``hz`` times a second, alternately below and above the band (a command each)."""
    async def run() -> None:
        producer = new_producer(settings, linger_ms=0)
        await producer.start()
        topic, i = settings.topic(events.TELEMETRY), 0
        try:
            next_at = time.monotonic()
            while not stop.is_set():
                for a in assets:
                    ev = events.Telemetry(event_id=f"r{i}", asset_id=a, event_time=time.time(), tag="tag0",
                                          value=10.0 if (i // len(assets)) % 2 else 150.0, seq=i)
                    await producer.send(topic, events.encode(ev), key=a.encode())
                    i += 1
                next_at += 1 / hz
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await producer.stop()
    thread = threading.Thread(target=lambda: asyncio.run(run()), name="readings", daemon=True)
    thread.start()
    return thread


def stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "max": max(values), "min": min(values)}


def run(broker, root, *, workers: int, kills: int, assets: int, hz: float, session_timeout: float,
        standbys: int, liveness: float, changelog: dict | None = None, seed: int = 11,
        keep_logs: str | None = None, log=print) -> dict:
    base = bench_settings(broker, root, processors=["telemetry-state", "control"], session_timeout=session_timeout,
                          standby_replicas=standbys, liveness_timeout=liveness, changelog_configs=changelog or {})
    write_plant(base.home / "plant.yaml", 40.0, assets)
    base = base.updated({"plant_config": base.home / "plant.yaml"})
    names = [f"asset-{a:04d}" for a in range(assets)]
    group = [base.updated({"web_port": free_port(), "worker_data": base.home / f"w{i}"}) for i in range(workers)]
    procs = [start_worker(s, f"w{i}") for i, s in enumerate(group)]
    decisions, stop = Decisions(base), threading.Event()
    decisions.thread.start()
    producer = readings(base, names, hz, stop)
    rng, out = random.Random(seed), []
    try:
        wait_until(lambda: all(worker_ready(s) for s in group), 180, what=f"{workers} workers ready")
        t = time.time()
        wait_until(lambda: all(decisions.gap_across(a, t) is not None for a in names), 120,
                   what="a command for every asset")
        for k in range(kills):
            victim = k % workers
            time.sleep(rng.uniform(0, 1 / hz))  # anywhere between two readings
            killed_at = time.time()
            procs[victim].kill()
            wait_until(lambda: all(decisions.gap_across(a, killed_at) is not None for a in names), 180,
                       interval=0.2, what="a command for every asset after the kill")
            gaps = {a: decisions.gap_across(a, killed_at) for a in names}
            worst = max(gaps.values())
            moved = sorted(a for a, g in gaps.items() if g > 3 / hz)
            restarted_at = time.time()
            procs[victim] = start_worker(group[victim], f"w{victim}-{k + 1}")
            wait_until(lambda: all(worker_ready(s) for s in group), 180, what="the group ready again")
            settled = time.time() + 2.0
            wait_until(lambda: time.time() > settled and all(decisions.gap_across(a, settled) is not None
                                                             for a in names), 120, what="commands after the rejoin")
            rejoin = max(decisions.longest_gap_within(a, restarted_at, settled) for a in names)
            out.append({"victim": victim, "failover_s": worst, "assets_paused": len(moved), "rejoin_gap_s": rejoin})
            log(f"  kill {k + 1}/{kills} (w{victim}): {len(moved)} assets paused, longest {worst:.2f} s; "
                f"rejoin: longest gap {rejoin:.2f} s")
    finally:
        stop.set()
        decisions.stop.set()
        producer.join(10)
        for p in procs:
            if p.alive():
                p.stop(timeout=15)
        if keep_logs:
            shutil.copytree(base.home / "logs", keep_logs, dirs_exist_ok=True)
    return {"workers": workers, "assets": assets, "hz": hz, "session_timeout_s": session_timeout,
            "liveness_timeout_s": liveness, "changelog_configs": changelog or {},
            "standby_replicas": standbys, "kills": out,
            "failover_s": stats([k["failover_s"] for k in out]),
            "rejoin_gap_s": stats([k["rejoin_gap_s"] for k in out])}


# (name, session timeout s, liveness timeout s, standby replicas, changelog configs): before, and
# the steps since. "compacted": changelog segments rolled every minute, so the cleaner can
# compact all but the last minute of a changelog (by default a segment rolls at 1 GB or 7 days,
# and a restore reads every write since).
COMPACTED = FAST_COMPACTION
CONFIGS = {"session-10s": (10.0, 0.0, 0, {}), "liveness-1s": (10.0, 1.0, 0, {}),
           "liveness-1s-standby": (10.0, 1.0, 1, {}), "liveness-1s-standby-compacted": (10.0, 1.0, 1, COMPACTED)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kills", type=int, default=5, help="per configuration")
    ap.add_argument("--assets", type=int, default=32)
    ap.add_argument("--hz", type=float, default=20.0, help="readings per asset per second")
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS)[:3], choices=list(CONFIGS),
                    help="run one after another on one broker (default: all)")
    ap.add_argument("--hog", action="store_true", help="beside a busy-looping process (a loaded machine)")
    ap.add_argument("--name", default=None, help="results file suffix")
    ap.add_argument("--keep-logs", default=None, metavar="DIR", help="copy the workers' logs there")
    args = ap.parse_args()

    def measure(broker, root, log):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
        try:
            out = {"hog": args.hog, "configs": {}}
            for name in args.configs:
                session, liveness, standbys, changelog = CONFIGS[name]
                log(f"{name}: session {session} s, liveness {liveness or 'off'}, {standbys} standby replicas")
                out["configs"][name] = run(broker, root, workers=args.workers, kills=args.kills, assets=args.assets,
                                           hz=args.hz, session_timeout=session, standbys=standbys, liveness=liveness,
                                           changelog=changelog,
                                           keep_logs=args.keep_logs and f"{args.keep_logs}/{name}", log=log)
            return out
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    run_standalone(f"failover{'-' + args.name if args.name else ''}", measure)


if __name__ == "__main__":
    main()
