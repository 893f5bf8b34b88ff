"""Capacity: the most assets (x 10 tags at 1 Hz) one worker holds with state freshness p99 under 1 s, beside Quix.

  python -m bench.capacity --assets 250 500 1000 1500 2000 --seconds 20

A plant engineer sizes a deployment with this figure. Each contender runs the same job
(decode, fold into asset state and tag windows) on its own fresh topic. For each fleet
size N in turn, the bench appends N x 10 telemetry events a second (every (asset, tag)
once a second, spread over the second) for --seconds, and meanwhile measures
freshness: PROBES_PER_S times a second it appends a probe event (an asset of its own,
a new sequence number) and takes the time until the contender shows it.

  faust-1w : shown = the worker's ``/state/<asset>/`` (what ``factory state`` reads) has it.
  quix     : shown = Quix's update callback has folded it. Quix has no query interface, and
             others can read its state only after its next checkpoint, so this flatters Quix.

A contender holds N when its probe p99 is under 1 s. Between sizes the backlog is
drained; sizes stop at the first one a contender does not hold. Reported per size:
the offered and achieved event rates, probe p50/p99/max, the backlog at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from bench.common import bench_settings, percentile, run_standalone
from bench.ingest import start_baseline, start_faust
from factory_app import events
from factory_app.children import wait_until
from factory_app.producer import new_producer
from factory_app.settings import Settings
from factory_app.state_client import StateUnavailable, fetch_state

TAGS = 10
PROBES_PER_S = 10
PROBE_ASSETS = [f"probe-{i}" for i in range(8)]  # keys spread over the partitions
HOLD_P99_S = 1.0
WARMUP_S = 3.0  # probes of a size's first seconds are not counted (the contender meets the new rate)
CONTENDERS = ("faust-1w", "quix")


class Visibility:
    """How a contender shows that it has the probe ``seq`` (returns the wall time it was seen, or None)."""

    def __init__(self, which: str, web_port: int | None, probe_log: Path):
        self.which, self.web_port, self.probe_log = which, web_port, probe_log

    def seen(self, asset: str, seq: int) -> float | None:
        if self.which == "quix":  # lines "asset seq folded_at", appended by the contender
            try:
                for line in self.probe_log.read_text().splitlines()[-64:]:
                    a, s, at = line.split()
                    if a == asset and int(s) == seq:
                        return float(at)
            except (FileNotFoundError, ValueError):
                pass
            return None
        try:
            state = fetch_state(f"http://127.0.0.1:{self.web_port}", asset, timeout=5)
        except StateUnavailable:
            return None
        tag = (state or {}).get("tags", {}).get("probe")
        return time.time() if tag is not None and tag.get("seq") == seq else None


def fleet_second(n_assets: int, second: int, now: float):
    """The events of one second (``second`` numbers it, for unique ids): every (asset, tag) once, in
    tag-major order (spread over the second), stamped from ``now`` (the worker refuses clock skew)."""
    for tag in range(TAGS):
        for a in range(n_assets):
            i = (second * TAGS + tag) * n_assets + a
            yield events.Telemetry(event_id=uuid.UUID(int=i).hex, asset_id=f"asset-{a:05d}",
                                   event_time=now + tag / TAGS, tag=f"tag{tag}", value=float(i % 997), seq=i)


async def load_and_probe(settings: Settings, n_assets: int, seconds: float, seen: Visibility,
                         first_second: int, log) -> dict:
    """Offer N x 10 events/s for ``seconds`` while probing; returns the step's figures."""
    producer = new_producer(settings, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    topic = settings.topic(events.TELEMETRY)
    latencies: list[float] = []
    sent = [0]
    stop = asyncio.Event()

    async def load() -> None:
        start = time.monotonic()
        for s in range(int(seconds)):
            batch = list(fleet_second(n_assets, first_second + s, time.time()))
            slices = 10  # a tenth of the second's events every 100 ms
            per = (len(batch) + slices - 1) // slices
            for k in range(slices):
                for ev in batch[k * per:(k + 1) * per]:
                    await producer.send(topic, events.encode(ev), key=ev.asset_id.encode())
                    sent[0] += 1
                due = start + s + (k + 1) / slices
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        stop.set()

    async def probe() -> None:
        k = first_second * 1_000
        while not stop.is_set():
            k += 1
            asset = PROBE_ASSETS[k % len(PROBE_ASSETS)]
            ev = events.Telemetry(event_id=uuid.uuid4().hex, asset_id=asset, event_time=time.time(), tag="probe",
                                  value=float(k), seq=k)
            appended = time.time()
            await producer.send(topic, events.encode(ev), key=asset.encode())
            deadline = appended + 30
            while time.time() < deadline:
                at = await asyncio.to_thread(seen.seen, asset, k)
                if at is not None:
                    if appended - began_wall >= WARMUP_S:
                        latencies.append(at - appended)
                    break
                await asyncio.sleep(0.02)  # each look is an HTTP request the worker serves: not too often
            await asyncio.sleep(max(0.0, appended + 1 / PROBES_PER_S - time.time()))

    began, began_wall = time.monotonic(), time.time()
    await asyncio.gather(load(), probe())
    elapsed = time.monotonic() - began
    await producer.flush()
    await producer.stop()
    figures = {"assets": n_assets, "offered_events_per_s": n_assets * TAGS,
               "achieved_events_per_s": round(sent[0] / elapsed), "probes": len(latencies)}
    if latencies:
        figures.update(p50_s=round(percentile(latencies, 50), 4), p99_s=round(percentile(latencies, 99), 4),
                       max_s=round(max(latencies), 4))
    figures["holds"] = bool(latencies) and figures["p99_s"] < HOLD_P99_S
    log(f"    {n_assets} assets: {figures}")
    return figures


def measure(broker, root: Path, which: str, sizes: list[int], seconds: float, log) -> list[dict]:
    settings = bench_settings(broker, root, processors=["telemetry-state"])
    probe_log = settings.home / "quix.probes"
    if which == "faust-1w":
        contender = start_faust(settings, 1)
    else:
        contender = start_baseline(settings, which, 10**12, probe_log=probe_log)
    seen = Visibility(which, contender.web_ports[0] if contender.web_ports else None, probe_log)
    steps: list[dict] = []
    try:
        for i, n in enumerate(sizes):
            # Drain first: a size's probes must not queue behind what came before (the warm-up too).
            wait_until(lambda: contender_idle(settings, seen), 600, what=f"{which} to drain")
            step = asyncio.run(load_and_probe(settings, n, seconds, seen, first_second=i * 10_000, log=log))
            steps.append(step)
            if not step["holds"]:
                break
    finally:
        contender.stop()
    return steps


def contender_idle(settings: Settings, seen: Visibility) -> bool:
    """A fresh probe shows within a second: what was appended before it has been folded."""
    k = int(time.time() * 1000) % 10**9
    asset = PROBE_ASSETS[0]

    async def send() -> None:
        producer = new_producer(settings)
        await producer.start()
        try:
            ev = events.Telemetry(event_id=uuid.uuid4().hex, asset_id=asset, event_time=time.time(), tag="probe",
                                  value=float(k), seq=k)
            await (await producer.send(settings.topic(events.TELEMETRY), events.encode(ev), key=asset.encode()))
        finally:
            await producer.stop()
    asyncio.run(send())
    deadline = time.time() + 1.0
    while time.time() < deadline:
        if seen.seen(asset, k) is not None:
            return True
        time.sleep(0.01)
    return False


def run(broker, root: Path, sizes: list[int], seconds: float, contenders=CONTENDERS, log=print) -> dict:
    out: dict = {"tags_per_asset": TAGS, "seconds_per_size": seconds, "hold_p99_s": HOLD_P99_S, "contenders": {}}
    for which in contenders:
        log(f"  capacity: {which}")
        steps = measure(broker, root, which, sizes, seconds, log)
        held = [s["assets"] for s in steps if s["holds"]]
        out["contenders"][which] = {"steps": steps, "assets_held": max(held) if held else 0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, nargs="+", default=[250, 500, 1000, 1500, 2000])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--only", nargs="*", choices=CONTENDERS, default=list(CONTENDERS))
    args = ap.parse_args()
    run_standalone("capacity", lambda broker, root, log: run(broker, root, args.assets, args.seconds,
                                                              tuple(args.only), log))


if __name__ == "__main__":
    main()
