"""Control-loop latency: OPC UA source timestamp of the cause -> write confirmed by the command writer.

  python -m bench.loop_latency --iterations 500 --loads 0 170 850

``--loads`` are background telemetry rates (events/s from 1,000 other assets
through the same worker), e.g. idle, 10 % and 50 % of the measured ingest maximum.

Runs the real plant (simulated PLCs, ingest, worker, command writer) with
oven-1's thermostat band narrowed so it switches often, then joins each
CommandResult to its Command and to the Telemetry that caused it:

  adapter : source timestamp -> telemetry record appended (Kafka record timestamp)
  agent   : telemetry appended -> command record appended (through Kafka and the control agent)
  writer  : command appended -> write and read-back confirmed (through Kafka and OPC UA)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.common import bench_broker, bench_settings, log_stderr, summary, write_result
from factory_app import events
from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from harness.helpers import read_topic, wait_ready
from harness.plant import Plant, plant_file


def fast_thermostat(doc):
    doc["sim"]["speed"] = 20
    for asset in doc["assets"]:
        asset["publishing_ms"] = 0
    for rule in doc["rules"]:
        if rule["name"] == "oven-1-thermostat":
            rule.update(on_below=189.9, off_above=190.1, retry_s=0.5)


def records(settings, topic):
    recs = asyncio.run(read_topic(settings, topic))
    return [r for part in recs.values() for r in part]


def measure(broker, root, iterations: int, load_rate: float, timeout: float = 1200, log=print) -> dict:
    """Loop latency over ``iterations`` applied commands while ``load_rate`` events/s of other telemetry flow."""
    settings = bench_settings(broker, root)
    settings.home.mkdir(parents=True, exist_ok=True)
    settings = settings.updated({"plant_config": plant_file(settings.home / "plant.yaml", fast_thermostat)})
    plant = Plant(settings, load_plant(settings.plant_config))
    load = None
    try:
        plant.start("sim", "writer", "worker")
        wait_ready(settings, 120)
        if load_rate > 0:  # 1,000 other assets through the same worker and topics
            load = Child("load", ["sample", "--assets", "1000", "--rate", str(load_rate)], settings.home / "logs",
                         env=settings.to_env())
        plant.start("ingest")

        def applied():
            n = sum(1 for r in records(settings, events.COMMAND_RESULTS)
                    if events.decode(r.value).status == "applied")
            log(f"    load {load_rate:,.0f} ev/s: loop iterations {n}/{iterations}")
            return n >= iterations
        wait_until(applied, timeout, interval=5, what=f"{iterations} applied commands")
    finally:
        plant.stop()
        if load is not None:
            load.stop()
    return stage_latencies(settings)


def stage_latencies(settings) -> dict:
    """Join each applied CommandResult to its Command and the Telemetry that caused it; ms per stage."""
    tele = {}
    for r in records(settings, events.TELEMETRY):
        ev = events.decode(r.value)
        if isinstance(ev, events.Telemetry) and not ev.asset_id.startswith("asset-"):
            tele[ev.event_id] = (ev.event_time, r.timestamp / 1000)
    cmds = {}
    for r in records(settings, events.COMMANDS):
        ev = events.decode(r.value)
        cmds[ev.command_id] = (ev, r.timestamp / 1000)
    stages = {"adapter": [], "agent": [], "writer": [], "total": []}
    for r in records(settings, events.COMMAND_RESULTS):
        res = events.decode(r.value)
        if res.status != "applied" or res.command_id not in cmds:
            continue
        cmd, cmd_ts = cmds[res.command_id]
        if cmd.cause_event_id not in tele:
            continue
        source_ts, tele_ts = tele[cmd.cause_event_id]
        stages["adapter"].append((tele_ts - source_ts) * 1000)
        stages["agent"].append((cmd_ts - tele_ts) * 1000)
        stages["writer"].append((res.event_time - cmd_ts) * 1000)
        stages["total"].append((res.event_time - source_ts) * 1000)
    return {"unit": "ms", "iterations": len(stages["total"]), **{k: summary(v) for k, v in stages.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--loads", type=float, nargs="*", default=[0.0], help="background telemetry, events/s")
    ap.add_argument("--timeout", type=float, default=1200)
    args = ap.parse_args()
    out = {}
    with bench_broker() as (broker, root):
        for rate in args.loads:
            out[f"{rate:.0f}"] = measure(broker, root, args.iterations, rate, args.timeout,
                                         log=log_stderr)
            print(f"load {rate:,.0f} ev/s: {out[f'{rate:.0f}']['total']}", file=sys.stderr)
    write_result("loop_latency", {"by_load_events_per_s": out})


if __name__ == "__main__":
    main()
