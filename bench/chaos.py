"""Chaos harness: workers SIGKILLed at random moments while telemetry flows; state checked against the log.

  python -m bench.chaos --events 100000 --kills 20 --workers 3
  python -m bench.chaos --guarantee exactly_once      # the same chaos under Faust's exactly-once

Starts its own broker, N workers (one Faust group) and a steady producer. Kills a
random worker every 0.5-2.5 s and restarts it at once, until the producer is done
and the kill count is reached. Then it waits for the group to absorb the log and
compares every asset_state and tag_windows entry with an independent fold of the
log (harness/reference_fold.py, which shares no code with the agents).

Measured per kill: time to resume (SIGKILL -> the replacement worker ready: tables
recovered, partitions assigned) and rebalance time (SIGKILL -> every worker ready
again). A kill that lands before its worker's replacement resumed is counted, not timed
(``--interval 10 20`` spaces kills so that each one is timed).
Results: bench/results/chaos-<guarantee>.json; docs/fault-tolerance.md has the table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.sample_telemetry import start_tracked_load
from factory_app.settings import Settings
from harness import reference_fold as ref
from harness.helpers import get_json, read_topic, start_worker, worker_ready
from harness.net_cut import CutRelay


@dataclass
class Kill:
    worker: int
    generation: int  # of the replacement
    at: float
    resumed_after: float | None = None
    rebalanced_after: float | None = None


@dataclass
class ChaosRun:
    """Live bookkeeping of one run: the workers, their replacements and each kill's timings."""

    group: list[Settings]
    workers: list[Child]
    generations: list[int]
    kills: list[Kill] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)  # workers that ended without being killed
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restart_exited(self, why: str) -> None:
        """Restart every worker that ended on its own (as compose's "restart: any" would), noting it."""
        with self.lock:
            for i, w in enumerate(self.workers):
                if not w.alive():
                    self.exits.append(f"w{i} {why}: exit {w.proc.returncode}, see {w.log_path}")
                    self.generations[i] += 1
                    self.workers[i] = start_worker(self.group[i], f"w{i}-{self.generations[i]}-after-exit")

    def watch(self, stop: threading.Event) -> None:
        """Poll every worker's /ready/ and stamp kills whose replacement (or whole group) is ready."""
        while not stop.is_set():
            ready = [worker_ready(s) for s in self.group]
            now = time.monotonic()
            with self.lock:
                for k in self.kills:
                    if k.resumed_after is None and ready[k.worker] and self.generations[k.worker] == k.generation:
                        k.resumed_after = now - k.at
                    if k.rebalanced_after is None and all(ready) and k.resumed_after is not None:
                        k.rebalanced_after = now - k.at
            time.sleep(0.1)


def union_dump(group: list[Settings], table: str, strict: bool = True) -> dict:
    out = {}
    for s in group:
        try:
            out.update(get_json(f"http://127.0.0.1:{s.web.port}/tables/{table}/"))
        except OSError:
            if strict:
                raise  # not strict: a crash-looping worker's keys count as missing
    return out


def stats(values: list[float]) -> dict:
    return {"n": len(values), "median": statistics.median(values) if values else None,
            "max": max(values) if values else None}


def run_chaos(settings: Settings, *, n_events: int, min_kills: int, n_workers: int = 3, rate: float = 2_000,
              assets: int = 200, seed: int = 17, interval: tuple[float, float] = (0.5, 2.5), stall_s: float = 180,
              static: bool = False, relay: CutRelay | None = None, cut_s: float = 0.0, log=print) -> dict:
    """Run the chaos against ``settings``'s broker; returns the report (see the module doc).

    With ``relay`` (a relay to a broker listener that advertises it), worker 0 reaches the broker
    through it, and once half the events are sent the relay is cut for ``cut_s`` seconds: the
    coordinator drops that worker from the group while the others are killed and restarted."""
    settings = settings.updated({"window_seconds": 100.0, "processors": ["telemetry-state"]})
    group = [settings.updated({"web_port": free_port(), "worker_data": settings.home / f"w{i}",
                                         "instance_id": f"w{i}" if static else None})
             for i in range(n_workers)]
    if relay is not None:
        group[0] = group[0].updated({"bootstrap": f"127.0.0.1:{relay.listen_port}"})
    cut = {"at": None, "healed": False}
    started = time.monotonic()
    run = ChaosRun(group, [start_worker(s, f"w{i}") for i, s in enumerate(group)], [0] * n_workers)
    stop_watch = threading.Event()
    try:
        wait_until(lambda: all(worker_ready(s) for s in group), 180, what=f"{n_workers} workers ready")
        first_ready = time.monotonic() - started
        watcher = threading.Thread(target=run.watch, args=(stop_watch,), daemon=True)
        watcher.start()

        report, producer = start_tracked_load(settings, assets, rate, n_events)
        rng = random.Random(seed)
        last_log = 0.0
        while not report.done.is_set() or len(run.kills) < min_kills or (cut["at"] is not None and not cut["healed"]):
            time.sleep(rng.uniform(*interval))
            run.restart_exited("during the kills")
            now = time.monotonic()
            if relay is not None and cut["at"] is None and report.sent >= n_events // 2:
                relay.cut()
                cut["at"] = now
                log(f"  worker 0 cut off from the broker for {cut_s:.0f} s")
            elif cut["at"] is not None and not cut["healed"] and now - cut["at"] >= cut_s:
                relay.heal()
                cut["healed"] = True
                log("  worker 0's link healed")
            cutting = cut["at"] is not None and not cut["healed"]
            victim = rng.randrange(1 if cutting else 0, n_workers)  # the cut-off worker rides it out
            with run.lock:
                run.workers[victim].kill()
                run.generations[victim] += 1
                run.kills.append(Kill(victim, run.generations[victim], time.monotonic()))
                run.workers[victim] = start_worker(group[victim], f"w{victim}-{run.generations[victim]}")
            if time.monotonic() - last_log > 5:
                last_log = time.monotonic()
                log(f"  {report.sent:,}/{n_events:,} events sent, {len(report.acked):,} acked, "
                    f"{len(run.kills)} kills")
        producer.join()
        log(f"  producer done ({len(report.acked):,} acked, {len(report.failed)} failed); waiting for the group")
        records = asyncio.run(read_topic(settings, events.TELEMETRY))  # the log is final now
        logged = sum(len(r) for r in records.values())

        in_state = [0, time.monotonic()]  # events in state, when that count last changed

        def absorbed():
            run.restart_exited("after the kills")
            if len(run.exits) >= 3 * n_workers:
                return True  # crash-looping: give up, report it
            if not all(worker_ready(s) for s in group):
                return None
            n = sum(st["events"] for st in union_dump(group, "asset_state").values() if st)
            if n != in_state[0]:
                in_state[:] = [n, time.monotonic()]
            # Done when every event is in; stalled when the count has not moved for 3 minutes.
            return n >= logged or time.monotonic() - in_state[1] > stall_s
        settle_start = time.monotonic()
        wait_until(absorbed, 1800, interval=2, what="every event in state after the kills")
        settle = time.monotonic() - settle_start
        stalled = in_state[0] < logged
        if run.exits:
            log(f"  workers ended on their own {len(run.exits)} times; first: {run.exits[0]}")
        time.sleep(1)  # the watcher stamps the last kills
        stop_watch.set()
        watcher.join()

        strict = len(run.exits) < 3 * n_workers
        state = union_dump(group, "asset_state", strict)
        want_state = ref.fold_state(records)
        got_state = ref.projection_state(state)
        state_diff = sorted(k for k in want_state.keys() | got_state.keys() if want_state.get(k) != got_state.get(k))
        got_w = ref.projection_windows(union_dump(group, "tag_windows", strict))
        want_w = ref.fold_windows(records, settings.worker.window_seconds)
        window_diff = sorted(k for k in want_w.keys() | got_w.keys()
                             if (got_w.get(k) or {}).get("count") != (want_w.get(k) or {}).get("count"))
        return {
            "workers": n_workers, "partitions": settings.kafka.partitions, "guarantee": settings.worker.processing_guarantee,
            "session_timeout_s": settings.worker.session_timeout, "static_membership": static, "rate": rate, "kill_interval_s": list(interval),
            "events_sent": report.sent, "events_acked": len(report.acked), "events_in_log": logged,
            "events_in_state": in_state[0], "stalled_short_of_log": stalled, "kills": len(run.kills),
            "unexpected_exits": run.exits, "cut_s": cut_s if cut["at"] is not None else 0.0,
            "resume_s": stats([k.resumed_after for k in run.kills if k.resumed_after is not None]),
            "rebalance_s": stats([k.rebalanced_after for k in run.kills if k.rebalanced_after is not None]),
            "kills_not_timed": sum(1 for k in run.kills if k.resumed_after is None),
            "first_start_s": first_ready, "settle_after_last_event_s": settle,
            "state_keys_differing": state_diff[:20], "n_state_keys_differing": len(state_diff),
            "window_keys_differing": [list(k) if isinstance(k, tuple) else k for k in window_diff[:20]],
            "n_window_keys_differing": len(window_diff),
            "duration_s": time.monotonic() - started,
        }
    finally:
        stop_watch.set()
        for w in run.workers:
            if w.alive():
                w.stop(timeout=15)


def main() -> None:
    from bench.common import bench_broker, bench_settings, log_stderr, write_result

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--kills", type=int, default=20, help="at least this many kills")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--rate", type=float, default=2_000, help="events per second")
    ap.add_argument("--guarantee", choices=["at_least_once", "exactly_once"], default="at_least_once")
    ap.add_argument("--session-timeout", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--interval", type=float, nargs=2, default=(0.5, 2.5), metavar=("MIN", "MAX"),
                    help="seconds between kills, drawn uniformly (longer lets each kill's resume be timed)")
    ap.add_argument("--static", action="store_true", help="static group membership (one instance id per worker)")
    ap.add_argument("--name", default=None, help="results file suffix (default: the guarantee)")
    args = ap.parse_args()
    with bench_broker() as (broker, root):
        settings = bench_settings(broker, root, processing_guarantee=args.guarantee,
                                  session_timeout=args.session_timeout)
        print(f"chaos: {args.workers} workers, {args.events:,} events at {args.rate:,.0f}/s, "
              f">= {args.kills} kills, {args.guarantee}", file=sys.stderr)
        result = run_chaos(settings, n_events=args.events, min_kills=args.kills, n_workers=args.workers,
                           rate=args.rate, seed=args.seed, interval=tuple(args.interval), static=args.static, log=log_stderr)
    path = write_result(f"chaos-{args.name or args.guarantee}", result)
    for key in ("events_acked", "events_in_log", "events_in_state", "stalled_short_of_log", "kills", "resume_s", "rebalance_s",
                "kills_not_timed", "n_state_keys_differing", "n_window_keys_differing", "duration_s"):
        print(f"{key:>26}: {result[key]}")
    print(f"written to {path}")
    if result["n_state_keys_differing"] or result["n_window_keys_differing"] or result["stalled_short_of_log"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
