"""Control-loop latency: OPC UA source timestamp of the cause -> write confirmed by the command writer.

  python -m bench.loop_latency --iterations 1000

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

from bench.common import bench_broker, bench_settings, summary, write_result
from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from tests.helpers import read_topic, wait_ready
from tests.plant import Plant, plant_file


def fast_thermostat(doc):
    doc["sim"]["speed"] = 20
    for rule in doc["rules"]:
        if rule["name"] == "oven-1-thermostat":
            rule.update(on_below=189.9, off_above=190.1, retry_s=0.5)


def records(settings, topic):
    recs = asyncio.run(read_topic(settings, topic))
    return [r for part in recs.values() for r in part]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=1200)
    want = ap.parse_args().iterations
    with bench_broker() as (broker, root):
        settings = bench_settings(broker, root)
        settings.home.mkdir(parents=True, exist_ok=True)
        settings = settings.model_copy(update={"plant_config": plant_file(settings.home / "plant.yaml",
                                                                          fast_thermostat)})
        plant = Plant(settings, load_plant(settings.plant_config))
        try:
            plant.start("sim", "writer", "worker")
            wait_ready(settings, 120)
            plant.start("ingest")

            def applied():
                n = sum(1 for r in records(settings, events.COMMAND_RESULTS)
                        if events.decode(r.value).status == "applied")
                print(f"  loop iterations: {n}/{want}", file=sys.stderr, flush=True)
                return n >= want
            wait_until(applied, ap.parse_args().timeout, interval=5, what=f"{want} applied commands")
        finally:
            plant.stop()
        tele = {}
        for r in records(settings, events.TELEMETRY):
            ev = events.decode(r.value)
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
            source_ts, tele_ts = tele[cmd.cause_event_id]
            stages["adapter"].append((tele_ts - source_ts) * 1000)
            stages["agent"].append((cmd_ts - tele_ts) * 1000)
            stages["writer"].append((res.event_time - cmd_ts) * 1000)
            stages["total"].append((res.event_time - source_ts) * 1000)
    result = {"unit": "ms", "iterations": len(stages["total"]), **{k: summary(v) for k, v in stages.items()}}
    print(result)
    write_result("loop_latency", result)


if __name__ == "__main__":
    main()
