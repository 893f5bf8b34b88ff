"""Mirror throughput and lag: a site cluster, a central cluster, MirrorMaker 2 between them.

  python -m bench.mirror [--rate 500] [--seconds 60] [--burst 50000] [--exactly-once --name mirror-eos]

Three measurements in one run, each side by side with the site's own:
1. Steady rate: telemetry appended to the site at ``--rate`` events/s for ``--seconds``; one
   consumer on the site and one on the central topic (read committed) note when each record
   becomes visible. Lag = visible - the record's append time (its timestamp, which MirrorMaker
   keeps): site append -> readable on the site, and site append -> readable centrally.
2. Burst: ``--burst`` events appended as fast as the producer goes; throughput = events over
   the time until all are readable on the site, and until all are readable centrally.
3. State: a worker on the site and a central worker for the site (``factory worker --site``),
   both folding telemetry into ``asset_state``; telemetry of 200 new assets appended at
   ``--rate`` for ``--seconds``. An event is visible in a worker's state when that worker's
   changelog carries a value of its asset counting it (the ``events`` field): lag = then - the
   event's append time. Site append -> the site's state, and -> the central state.
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
from factory_app import events, kafka_clients
from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.kafka_clients import TopicSpec, ensure_topics
from factory_app.mirror.central import central_settings
from factory_app.mirror.process import MirrorMaker
from factory_app.mirror.sites import SitesConfig
from factory_app.settings import Settings
from factory_app.topics import changelog_topic_name
from harness.helpers import caught_up, wait_ready

SITE_TOPIC = "factory.telemetry"
CENTRAL_TOPIC = "plant-a.factory.telemetry"
PARTITIONS = 8


async def _tail(bootstrap: str, topic: str, done, stop_at: float, on_records, **options) -> None:
    """Read ``topic`` from its current end, handing each fetched batch to ``on_records(arrival
    time, records)``, until ``done()`` or ``stop_at``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="latest", **options)
    await consumer.start()
    try:
        tps = await kafka_clients.partitions_of(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        while not done() and time.monotonic() < stop_at:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                on_records(now, records)
    finally:
        await consumer.stop()


async def _watch(bootstrap: str, topic: str, expect: int, stop_at: float, seen: list[tuple[float, int]]) -> None:
    """Note (arrival time, append time ms) of every record of ``topic`` until ``expect`` or ``stop_at``."""
    await _tail(bootstrap, topic, lambda: len(seen) >= expect, stop_at,
                lambda now, records: seen.extend((now, r.timestamp) for r in records),
                isolation_level="read_committed", fetch_max_wait_ms=50)


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


async def _watch_state(bootstrap: str, topic: str, sent: dict[str, list[float]], expect: int, stop_at: float,
                       lags: list[float]) -> None:
    """Lag of each event of ``sent`` (asset -> append times, in order) until it shows in the
    worker's ``asset_state`` changelog ``topic``: the first value of its asset whose event
    count reaches it. A value may show several of an asset's events at once (one batch)."""
    shown: dict[str, int] = {}

    def note(now: float, records) -> None:
        for r in records:
            asset, value = json.loads(r.key), json.loads(r.value) if r.value else None
            if asset not in sent or not value:
                continue
            count, before = value["events"], shown.get(asset, 0)
            lags.extend(now - t for t in sent[asset][before:count])
            shown[asset] = max(before, count)
    await _tail(bootstrap, topic, lambda: len(lags) >= expect, stop_at, note, fetch_max_wait_ms=20)


async def _produce_events(bootstrap: str, topic: str, n: int, rate: float, sent: dict[str, list[float]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        begin = time.monotonic()
        for i in range(n):
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            asset = f"s{i % 200}"
            now = time.time()
            event = events.Telemetry(event_id=f"s{i:010d}", asset_id=asset, event_time=now, tag="t", value=float(i))
            await producer.send(topic, events.encode(event), key=asset.encode())
            sent.setdefault(asset, []).append(now)
        await producer.flush()
    finally:
        await producer.stop()


async def _state_phase(site: Settings, central: Settings, n: int, rate: float, timeout: float):
    sent: dict[str, list[float]] = {}
    site_lags: list[float] = []
    central_lags: list[float] = []
    stop_at = time.monotonic() + timeout
    watchers = [asyncio.create_task(_watch_state(s.kafka.bootstrap, changelog_topic_name(s, "asset_state"), sent, n,
                                                 stop_at, lags))
                for s, lags in ((site, site_lags), (central, central_lags))]
    await asyncio.sleep(1.0)
    await _produce_events(site.kafka.bootstrap, site.topic(events.TELEMETRY), n, rate, sent)
    await asyncio.gather(*watchers)
    return site_lags, central_lags


def _state(site_broker, config: SitesConfig, root: Path, rate: float, seconds: float, log) -> dict:
    site = Settings(bootstrap=site_broker.cfg.bootstrap, home=root / "site-worker", app_id="bench-site",
                    web_port=free_port(), partitions=PARTITIONS, processors=["telemetry-state"],
                    plant_config=REPO / "config" / "plant.yaml")
    central = central_settings(site.updated({"home": str(root / "central-worker")}), config, "plant-a").updated(
        {"processors": ["telemetry-state"]})  # the same fold on both sides
    workers = [Child(name, ["worker"], s.home / "logs", env=s.to_env()) for name, s in
               (("site-worker", site), ("central-worker", central))]
    try:
        for s, child in zip((site, central), workers):
            wait_ready(s, timeout=180, child=child)
        log("workers ready; folding what the earlier phases appended")
        for s in (site, central):
            wait_until(lambda: caught_up(s, ("telemetry",)), 600, interval=1, what=f"{s.worker.app_id} caught up")
        n = int(rate * seconds)
        log(f"state: {n} events of 200 new assets at {rate:.0f}/s")
        site_lags, central_lags = asyncio.run(_state_phase(site, central, n, rate, seconds + 120))
    finally:
        for child in workers:
            child.stop(timeout=30)
    return {"events": n, "rate": rate, "site_state_visible_s": summary(site_lags),
            "central_state_visible_s": summary(central_lags), "central_counted": len(central_lags),
            "workers": "one per side, telemetry-state only, default batching (fetch_max_wait_ms 20)"}


def measure(rate: float, seconds: float, burst: int, log, exactly_once: bool = False) -> dict:
    with bench_broker() as (site, site_root), bench_broker() as (central, _):
        asyncio.run(ensure_topics(site.cfg.bootstrap, [TopicSpec(SITE_TOPIC, PARTITIONS, 1, {})]))
        config = SitesConfig.model_validate({"central": {"bootstrap": central.cfg.bootstrap},
                                             "sites": [{"name": "plant-a", "bootstrap": site.cfg.bootstrap,
                                                        "central_web_port": free_port()}],
                                             "mirror": {"topics": ["telemetry"], "exactly_once": exactly_once}})
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
            state = _state(site, config, Path(site_root), rate, seconds, log)
            log(f"  site state p50 {state['site_state_visible_s']['p50']:.3f} s / p99 "
                f"{state['site_state_visible_s']['p99']:.3f} s, central state p50 "
                f"{state['central_state_visible_s']['p50']:.3f} s / p99 {state['central_state_visible_s']['p99']:.3f} s")
        finally:
            mirror.stop()
    return {"steady": steady, "burst": bursts, "state": state,
            "mirror": f"MirrorMaker 2 4.3.1, {'exactly-once' if exactly_once else 'at-least-once'}, 1 s commits"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--burst", type=int, default=50_000)
    ap.add_argument("--name", default="mirror")
    ap.add_argument("--exactly-once", action="store_true", help="MirrorMaker's exactly-once source mode")
    args = ap.parse_args()
    result = measure(args.rate, args.seconds, args.burst, log_stderr, exactly_once=args.exactly_once)
    print(json.dumps(result, indent=2))
    write_result(args.name, result)


if __name__ == "__main__":
    main()
