"""Nothing waits behind one slow PLC: the command writer's per-asset lanes, with real PLCs.

On 1081d30 one sequential loop served every asset: commands to a PLC that does not answer
held every other asset's commands (interlock stops included) until they expired.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid

import pytest
import yaml

from factory_app import events
from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from harness.helpers import log_text, produce_raw, read_topic
from harness.plant import Plant, make_settings, opc_read, plc_ready

pytestmark = pytest.mark.integration


def two_conveyors(doc) -> None:
    doc["assets"] = [a for a in doc["assets"] if a["id"] in ("conveyor-1", "conveyor-2")]
    doc["rules"] = []


def command(asset: str, value: float, ttl: float) -> events.Command:
    now = time.time()
    cid = f"op-{uuid.uuid4().hex[:12]}"
    return events.Command(event_id=cid, command_id=cid, asset_id=asset, event_time=now, action="write",
                          target="speed_setpoint", value=value, cause_event_id=cid, rule="operator",
                          deadline=now + ttl)


def results(settings) -> dict[str, events.CommandResult]:
    recs = asyncio.run(read_topic(settings, events.COMMAND_RESULTS))
    return {r.command_id: r for part in recs.values() for rec in part if (r := events.decode(rec.value))}


def test_a_silent_plc_does_not_hold_up_another_assets_commands(kafka, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path, two_conveyors)
    plant = Plant(settings, load_plant(settings.plant_config))
    with socket.socket() as black_hole:  # accepts connections at the TCP level, never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(64)
        doc = yaml.safe_load(settings.plant_config.read_text())
        silent = next(a for a in doc["assets"] if a["id"] == "conveyor-2")
        silent["endpoint"] = re.sub(r":\d+/", f":{black_hole.getsockname()[1]}/", silent["endpoint"])
        (tmp_path / "writer.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        writer_settings = settings.updated({"plant_config": tmp_path / "writer.yaml"})
        try:
            plant.start("sim")
            wait_until(lambda: plc_ready(plant, "conveyor-1"), 120, what="conveyor-1's PLC answering")
            writer = plant.children["writer"] = Child("writer", ["adapter", "commands"], tmp_path / "logs",
                                                      env=writer_settings.to_env())
            wait_until(lambda: "command writer ready" in log_text(writer), 120, what="the command writer ready")
            # Short deadlines: the writer tries a PLC that does not answer again until a command's deadline.
            stuck = [command("conveyor-2", 0.5 + i / 10, ttl=6.0) for i in range(4)]
            asyncio.run(produce_raw(settings, events.COMMANDS, [(c.asset_id.encode(), events.encode(c))
                                                                 for c in stuck]))
            # Once the writer is busy with the silent PLC (its first command has failed to connect,
            # three more wait behind it), a command for a healthy asset arrives.
            wait_until(lambda: stuck[0].command_id in results(settings), 60, what="the first silent-PLC result")
            urgent = command("conveyor-1", 1.7, ttl=3.0)
            asyncio.run(produce_raw(settings, events.COMMANDS, [(b"conveyor-1", events.encode(urgent))]))
            got = wait_until(lambda: (lambda r: r if urgent.command_id in r else None)(results(settings)), 60,
                             what="conveyor-1's command result")
            assert got[urgent.command_id].status == "applied", got[urgent.command_id]
            assert asyncio.run(opc_read(plant, "conveyor-1", "speed_setpoint")) == 1.7
            # The silent PLC's commands each end in a result of their own, none applied.
            done = wait_until(lambda: (lambda r: r if all(c.command_id in r for c in stuck) else None)(
                results(settings)), 120, what="results for the silent PLC's commands")
            assert {done[c.command_id].status for c in stuck} <= {"not_sent", "expired"}
        finally:
            plant.stop()
