"""Soak: the plant plus synthetic load for hours, sampled every minute; are memory and fds flat?

  python -m bench.soak --hours 1 [--rate 500] [--sample-s 60]

The whole local plant (simulated PLCs, worker, both adapters, its rules acting) on a private
broker, plus ``factory sample`` telemetry from --assets other assets at --rate events/s. Every
--sample-s seconds, per process (worker, ingest, writer, sim, load, broker): resident memory
and open file descriptors from /proc; the worker's consumer lag (its
``factory_consumer_lag_messages``); the control loop's latency over the interval (the
writer's ``factory_control_loop_latency_seconds`` histogram, its bucket counts in that
interval). Each sample is printed (progress) and appended to bench/results/soak-samples.jsonl;
the summary (bench/results/soak.json) gives, after a warm-up, each process's RSS and fd slope
per hour (least squares) with first/last/max, and the lag and latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.common import REPO, bench_broker, log_stderr, machine, percentile, write_result
from factory_app.children import Child
from factory_app.config import load_plant
from factory_app.settings import Settings
from harness.helpers import wait_ready
from harness.plant import Plant, make_settings, wait_plcs_ready

WARMUP_MIN = 10.0  # minutes: caches, JIT of the broker, RocksDB memtables fill first


def proc_sample(pid: int) -> dict | None:
    """RSS (MiB) and open fds of a live process, from /proc."""
    try:
        rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if line.startswith("VmRSS:"))
        return {"rss_mib": round(rss_kb / 1024, 1), "fds": len(os.listdir(f"/proc/{pid}/fd"))}
    except (OSError, StopIteration):
        return None


def metric_samples(url: str) -> list:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def lag(worker_metrics: str) -> int | None:
    try:
        return int(sum(s.value for s in metric_samples(worker_metrics) if s.name == "factory_consumer_lag_messages"))
    except OSError:
        return None


def latency_buckets(writer_metrics: str) -> dict[float, float]:
    """Cumulative counts per upper bound of the loop-latency histogram, all rules together."""
    out: dict[float, float] = {}
    try:
        for s in metric_samples(writer_metrics):
            if s.name == "factory_control_loop_latency_seconds_bucket":
                le = float(s.labels["le"])
                out[le] = out.get(le, 0.0) + s.value
    except OSError:
        pass
    return out


def interval_quantile(before: dict, after: dict, q: float) -> float | None:
    """The bucket bound holding quantile ``q`` of the observations made between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    return next(b for b, c in zip(bounds, counts) if c >= q * total)


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minutes, value) points, per hour."""
    if len(points) < 3:
        return None
    return statistics.linear_regression([p[0] for p in points], [p[1] for p in points]).slope * 60


def summarize(samples: list[dict]) -> dict:
    after = [s for s in samples if s["minute"] >= WARMUP_MIN] or samples
    procs = sorted({name for s in samples for name in s["procs"]})
    out: dict = {"samples": len(samples), "minutes": samples[-1]["minute"] if samples else 0,
                 "warmup_minutes": WARMUP_MIN, "processes": {}}
    for name in procs:
        rss = [(s["minute"], s["procs"][name]["rss_mib"]) for s in after if name in s["procs"]]
        fds = [(s["minute"], s["procs"][name]["fds"]) for s in after if name in s["procs"]]
        if not rss:
            continue
        out["processes"][name] = {
            "rss_mib": {"first": rss[0][1], "last": rss[-1][1], "max": max(v for _, v in rss),
                        "slope_per_hour": _round(slope_per_hour(rss))},
            "fds": {"first": fds[0][1], "last": fds[-1][1], "max": max(v for _, v in fds),
                    "slope_per_hour": _round(slope_per_hour(fds))}}
    lags = [s["lag"] for s in after if s["lag"] is not None]
    p50s = [s["loop_p50_s"] for s in after if s["loop_p50_s"] is not None]
    p99s = [s["loop_p99_s"] for s in after if s["loop_p99_s"] is not None]
    out["lag_messages"] = {"p50": percentile(lags, 50), "p99": percentile(lags, 99), "max": max(lags)} if lags else None
    out["loop_latency_bucket_s"] = {"p50_of_interval_p50s": percentile(p50s, 50) if p50s else None,
                                    "max_of_interval_p99s": max(p99s) if p99s else None}
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, required=True)
    ap.add_argument("--rate", type=float, default=500.0, help="synthetic telemetry, events/s")
    ap.add_argument("--assets", type=int, default=200, help="synthetic assets beside the plant's six")
    ap.add_argument("--sample-s", type=float, default=60.0)
    ap.add_argument("--name", default="soak", help="results as bench/results/NAME.json and NAME-samples.jsonl")
    args = ap.parse_args()
    out = REPO / "bench" / "results" / f"{args.name}-samples.jsonl"
    out.parent.mkdir(exist_ok=True)
    out.write_text("")
    samples: list[dict] = []
    with bench_broker() as (broker, root):
        (root / "plant").mkdir()
        settings = make_settings(broker.cfg.bootstrap, root / "plant")
        plant = Plant(settings, load_plant(settings.plant_config))
        load = None
        try:
            plant.start("sim", "worker", "ingest", "writer")
            wait_plcs_ready(plant)
            wait_ready(settings, child=plant.children["worker"])
            load = Child("load", ["sample", "--assets", str(args.assets), "--rate", str(args.rate)],
                         settings.home / "logs", env=settings.to_env())
            pids = {name: child.proc.pid for name, child in plant.children.items()}
            pids["load"], pids["broker"] = load.proc.pid, broker.pid()
            worker_metrics = f"http://127.0.0.1:{settings.web.port}/metrics"
            writer_metrics = f"http://127.0.0.1:{settings.web.writer_metrics_port}/metrics"
            begin = time.monotonic()
            buckets = latency_buckets(writer_metrics)
            log_stderr(f"soak: {args.hours} h, {args.rate:.0f} ev/s from {args.assets} assets + the plant; "
                       f"a sample every {args.sample_s:.0f} s to {out}")
            while time.monotonic() - begin < args.hours * 3600:
                time.sleep(args.sample_s)  # the sampling period itself, not a wait for a condition
                dead = [n for n, c in [*plant.children.items(), ("load", load)] if not c.alive()]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} died during the soak; logs in {settings.home / 'logs'}")
                now_buckets = latency_buckets(writer_metrics)
                sample = {"minute": round((time.monotonic() - begin) / 60, 2), "at": time.time(),
                          "procs": {n: p for n, pid in pids.items() if pid and (p := proc_sample(pid))},
                          "lag": lag(worker_metrics),
                          "loop_p50_s": interval_quantile(buckets, now_buckets, 0.5),
                          "loop_p99_s": interval_quantile(buckets, now_buckets, 0.99)}
                buckets = now_buckets
                samples.append(sample)
                with out.open("a") as f:
                    f.write(json.dumps(sample) + "\n")
                w = sample["procs"].get("worker", {})
                log_stderr(f"  {sample['minute']:6.1f} min: worker RSS {w.get('rss_mib')} MiB, fds {w.get('fds')}; "
                           f"lag {sample['lag']}; loop p50/p99 <= {sample['loop_p50_s']}/{sample['loop_p99_s']} s")
        finally:
            if load is not None:
                load.stop()
            plant.stop()
    result = {"hours": args.hours, "rate": args.rate, "assets": args.assets, **summarize(samples)}
    print(json.dumps(result, indent=2))
    write_result(args.name, {**result, "machine_at_end": machine(),
                             "rocksdb_mib": {"write_buffer": Settings().worker.rocksdb_write_buffer_mb,
                                             "shared_block_cache": Settings().worker.rocksdb_block_cache_mb,
                                             "shared_memtables": Settings().worker.rocksdb_memtables_mb}})


if __name__ == "__main__":
    main()
