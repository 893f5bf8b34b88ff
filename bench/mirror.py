"""Mirror throughput and lag: a site cluster, a central cluster, MirrorMaker 2 between them.

  python -m bench.mirror [--rate 500] [--seconds 60] [--burst 50000]

Two measurements in one run, each side by side with the site's own log:
1. Steady rate: telemetry appended to the site at ``--rate`` events/s for ``--seconds``; one
   consumer on the site and one on the central topic (read committed) note when each record
   becomes visible. Lag = visible - the record's append time (its timestamp, which MirrorMaker
   keeps): site append -> readable on the site, and site append -> readable centrally.
2. Burst: ``--burst`` events appended as fast as the producer goes; throughput = events over
   the time until all are readable on the site, and until all are readable centrally.
Results: bench/results/mirror.json and docs/benchmarks.md. Progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import REPO, bench_broker, log_stderr, summary, write_result
from factory_app import kafka_clients
from factory_app.kafka_clients import TopicSpec, ensure_topics
from factory_app.mirror.process import MirrorMaker
from factory_app.mirror.sites import SitesConfig

SITE_TOPIC = "factory.telemetry"
CENTRAL_TOPIC = "plant-a.factory.telemetry"
PARTITIONS = 8


async def _watch(bootstrap: str, topic: str, expect: int, stop_at: float, seen: list[tuple[float, int]]) -> None:
    """Note (arrival time, append time ms) of every record of ``topic`` until ``expect`` or ``stop_at``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                auto_offset_reset="latest", fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = await kafka_clients.partitions_of(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        while len(seen) < expect and time.monotonic() < stop_at:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                seen.extend((now, r.timestamp) for r in records)
    finally:
        await consumer.stop()


async def _produce(bootstrap: str, n: int, rate: float | None, first: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        begin = time.monotonic()
        for i in range(n):
            if rate:
                delay = begin + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            value = json.dumps({"type": "telemetry", "event_id": f"m{first + i:010d}", "asset_id": f"a{i % 200}",
                                "event_time": time.time(), "v": 1, "tag": "t", "value": float(i)}).encode()
            await producer.send(SITE_TOPIC, value, key=f"a{i % 200}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _phase(site: str, central: str, n: int, rate: float | None, first: int, timeout: float):
    site_seen: list = []
    central_seen: list = []
    stop_at = time.monotonic() + timeout
    watchers = [asyncio.create_task(_watch(site, SITE_TOPIC, n, stop_at, site_seen)),
                asyncio.create_task(_watch(central, CENTRAL_TOPIC, n, stop_at, central_seen))]
    await asyncio.sleep(1.0)  # both watchers positioned at the end before the first append
    start = time.time()
    await _produce(site, n, rate, first)
    await asyncio.gather(*watchers)
    return start, site_seen, central_seen


def measure(rate: float, seconds: float, burst: int, log) -> dict:
    with bench_broker() as (site, site_root), bench_broker() as (central, _):
        asyncio.run(ensure_topics(site.cfg.bootstrap, [TopicSpec(SITE_TOPIC, PARTITIONS, 1, {})]))
        config = SitesConfig.model_validate({"central": {"bootstrap": central.cfg.bootstrap},
                                             "sites": [{"name": "plant-a", "bootstrap": site.cfg.bootstrap}],
                                             "mirror": {"topics": ["telemetry"]}})
        mirror = MirrorMaker(config, Path(site_root) / "mirror", REPO / ".factory", die_with_parent=True)
        mirror.start()
        try:
            log("waiting for the mirror to create the central topic")
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                ends = asyncio.run(kafka_clients.end_offsets(central.cfg.bootstrap, [CENTRAL_TOPIC]))
                if ends:
                    break
                time.sleep(1)
            n = int(rate * seconds)
            log(f"steady: {n} events at {rate:.0f}/s")
            _, site_seen, central_seen = asyncio.run(_phase(site.cfg.bootstrap, central.cfg.bootstrap, n, rate, 0,
                                                            seconds + 120))
            steady = {"events": n, "rate": rate,
                      "site_visible_s": summary([a - t / 1000 for a, t in site_seen]),
                      "central_visible_s": summary([a - t / 1000 for a, t in central_seen]),
                      "central_received": len(central_seen)}
            log(f"  site p50 {steady['site_visible_s']['p50']:.3f} s, central p50 "
                f"{steady['central_visible_s']['p50']:.3f} s / p99 {steady['central_visible_s']['p99']:.3f} s")
            log(f"burst: {burst} events")
            start, site_seen, central_seen = asyncio.run(_phase(site.cfg.bootstrap, central.cfg.bootstrap, burst, None,
                                                                n, 300))
            site_s = max(a for a, _ in site_seen) - start
            central_s = max(a for a, _ in central_seen) - start
            bursts = {"events": burst, "site_events_per_s": burst / site_s, "central_events_per_s": burst / central_s,
                      "central_received": len(central_seen)}
            log(f"  site {bursts['site_events_per_s']:.0f} ev/s, central {bursts['central_events_per_s']:.0f} ev/s")
        finally:
            mirror.stop()
    return {"steady": steady, "burst": bursts, "mirror": "MirrorMaker 2 4.3.1, at-least-once, 1 s commits"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--burst", type=int, default=50_000)
    ap.add_argument("--name", default="mirror")
    args = ap.parse_args()
    result = measure(args.rate, args.seconds, args.burst, log_stderr)
    print(json.dumps(result, indent=2))
    write_result(args.name, result)


if __name__ == "__main__":
    main()
