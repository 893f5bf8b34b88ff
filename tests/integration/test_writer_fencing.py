"""Exactly one writer acts, and the intent is in the log (real writers, real PLC).

On 1081d30 "run exactly one writer" was only in the README: a second writer (after a
rebalance, or beside a zombie) re-applied the command in flight, and a writer whose local
ledger was lost applied again a command it could not know had been written.

The simulated PLC is told to acknowledge writes late (the value already applied), which
opens a window between the write and its result in which writers are killed or started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest
from asyncua import Client, ua

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from tests.conftest import kafka_version
from tests.helpers import log_text, produce_raw, read_topic, settings_env
from tests.plant import Plant, make_settings, plc_ready, plant_file, write_count

pytestmark = pytest.mark.integration

ASSET = "conveyor-2"


def only_conveyor(doc) -> None:
    doc["assets"] = [a for a in doc["assets"] if a["id"] == ASSET]
    doc["rules"] = []


async def set_ack_delay(plant: Plant, seconds: float) -> None:
    asset = plant.config.asset(ASSET)
    async with Client(asset.endpoint, timeout=4) as client:
        ns = await client.get_namespace_index(asset.namespace)
        node = client.get_node(ua.NodeId(f"{asset.object}.sim_ack_delay_s", ns))
        await node.write_value(ua.DataValue(ua.Variant(seconds, ua.VariantType.Double)))


def command(value: float) -> events.Command:
    now = time.time()
    cid = f"op-{uuid.uuid4().hex[:12]}"
    return events.Command(event_id=cid, command_id=cid, asset_id=ASSET, event_time=now, action="write",
                          target="speed_setpoint", value=value, cause_event_id=cid, rule="operator",
                          deadline=now + 60)


def logged(settings, topic: str, command_id: str) -> list:
    recs = asyncio.run(read_topic(settings, topic))
    return [e for part in recs.values() for r in part if (e := events.decode(r.value)).command_id == command_id]


def writer(settings, name: str) -> Child:
    child = Child(name, ["adapter", "commands"], settings.home / "logs", env=settings_env(settings))
    wait_until(lambda: "command writer ready" in log_text(child) or not child.alive(), 120,
               what=f"{name} ready")
    return child


@pytest.fixture
def plc(kafka, tmp_path):
    (tmp_path / "a").mkdir()
    settings = make_settings(kafka.cfg.bootstrap, tmp_path / "a", kafka_version())
    settings = settings.model_copy(update={"plant_config": plant_file(tmp_path / "plant.yaml", only_conveyor)})
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim")
        wait_until(lambda: plc_ready(plant, ASSET), 120, what="the simulated PLC answering")
        asyncio.run(set_ack_delay(plant, 6.0))
        yield plant
    finally:
        plant.stop()


def in_flight(plant: Plant, first: Child) -> tuple[events.Command, int]:
    """A command the first writer has announced and written, its result not yet appended."""
    before = write_count(plant, ASSET)
    cmd = command(0.9)
    asyncio.run(produce_raw(plant.settings, events.COMMANDS, [(ASSET.encode(), events.encode(cmd))]))
    wait_until(lambda: logged(plant.settings, events.COMMAND_INTENTS, cmd.command_id), 60,
               what="the first writer's intent in the log")
    wait_until(lambda: write_count(plant, ASSET) == before + 1, 30, what="the write at the PLC")
    assert not logged(plant.settings, events.COMMAND_RESULTS, cmd.command_id), "the window was missed"
    return cmd, before


def test_a_writer_that_lost_its_ledger_never_writes_an_announced_command_again(plc, tmp_path):
    first = plc.children["writer-a"] = writer(plc.settings, "writer-a")
    cmd, before = in_flight(plc, first)
    first.kill()  # dies between the write and its result; its local ledger is gone with its host
    other_host = plc.settings.model_copy(update={"home": tmp_path / "b"})
    plc.children["writer-b"] = writer(other_host, "writer-b")
    results = wait_until(lambda: logged(plc.settings, events.COMMAND_RESULTS, cmd.command_id), 90,
                         what="the second writer's result")
    assert [r.status for r in results] == ["unknown"], results
    assert write_count(plc, ASSET) == before + 1  # written once, by the first writer only


def test_a_second_writer_fences_a_zombie_first_one(plc, tmp_path):
    asyncio.run(set_ack_delay(plc, 3.0))
    first = plc.children["writer-a"] = writer(plc.settings, "writer-a")
    before = write_count(plc, ASSET)
    cmd = command(0.9)
    asyncio.run(produce_raw(plc.settings, events.COMMANDS, [(ASSET.encode(), events.encode(cmd))]))
    wait_until(lambda: logged(plc.settings, events.COMMAND_INTENTS, cmd.command_id), 60,
               what="the first writer's intent in the log")
    os.kill(first.proc.pid, signal.SIGSTOP)  # frozen mid-command: a zombie from the group's point of view
    try:
        other_host = plc.settings.model_copy(update={"home": tmp_path / "b", "writer_metrics_port": free_port()})
        second = plc.children["writer-b"] = writer(other_host, "writer-b")
        assert second.alive(), log_text(second)
        # The second writer fences the first as it starts, and takes the partition once the frozen
        # one is dropped from the group. If the intent had been committed, the first writer may
        # have written: the second reports it unknown and does not write. If the freeze came before
        # the commit, the fence aborted the intent and the first never writes: the second applies it.
        results = wait_until(lambda: logged(plc.settings, events.COMMAND_RESULTS, cmd.command_id), 120,
                             what="the second writer's result for the command")
        assert [r.status for r in results] in (["unknown"], ["applied"]), results
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)
    # Thawed, the first writer is fenced: it appends nothing more (nor announces) and stops.
    wait_until(lambda: not first.alive(), 90, what="the fenced writer to stop")
    assert "ProducerFenced" in log_text(first)
    assert len(logged(plc.settings, events.COMMAND_RESULTS, cmd.command_id)) == 1
    assert write_count(plc, ASSET) == before + 1  # one write, by one of the two
    asyncio.run(set_ack_delay(plc, 0.0))
    nxt = command(1.1)
    asyncio.run(produce_raw(plc.settings, events.COMMANDS, [(ASSET.encode(), events.encode(nxt))]))
    done = wait_until(lambda: logged(plc.settings, events.COMMAND_RESULTS, nxt.command_id), 90,
                      what="the next command's result")
    assert [r.status for r in done] == ["applied"] and second.alive()
