"""One writer per command: the intent is in the log, read by every writer taking partitions over, and a
writer the group dropped is fenced before it writes.

On 1081d30 the intent lived only in the writer's local ledger: a writer started without it
(another host, a lost disk) applied again the command in flight when its predecessor died;
and a writer frozen past its poll interval woke up and wrote the commands it still held,
although another writer had taken them over.

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

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from harness.helpers import log_text, produce_raw, read_topic
from harness.plant import Plant, make_settings, only_assets, opc_write, plc_ready, write_count

pytestmark = pytest.mark.integration

ASSET = "conveyor-2"



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
    child = Child(name, ["adapter", "commands"], settings.home / "logs", env=settings.to_env())
    wait_until(lambda: "command writer ready" in log_text(child) or not child.alive(), 120,
               what=f"{name} ready")
    assert child.alive(), child.last_lines()
    return child


@pytest.fixture
def plc(kafka, tmp_path):
    (tmp_path / "a").mkdir()
    settings = make_settings(kafka.cfg.bootstrap, tmp_path / "a", only_assets(ASSET))
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim")
        wait_until(lambda: plc_ready(plant, ASSET), 120, what="the simulated PLC answering")
        asyncio.run(opc_write(plant, ASSET, "sim_ack_delay_s", 6.0))
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
    other_host = plc.settings.updated({"home": tmp_path / "b", "writer_metrics_port": free_port()})
    plc.children["writer-b"] = writer(other_host, "writer-b")
    results = wait_until(lambda: logged(plc.settings, events.COMMAND_RESULTS, cmd.command_id), 90,
                         what="the second writer's result")
    assert [r.status for r in results] == ["unknown"], results
    assert write_count(plc, ASSET) == before + 1  # written once, by the first writer only


def freeze(child: Child) -> None:
    os.killpg(child.proc.pid, signal.SIGSTOP)


def thaw(child: Child) -> None:
    os.killpg(child.proc.pid, signal.SIGCONT)


def test_a_frozen_writer_is_fenced_and_its_successor_reads_its_intents(plc, tmp_path):
    """Two writers in the group; the owner of the asset's partition freezes mid-command (GC pause,
    suspended VM) with the next command waiting in its lane. The other writer takes over after the
    group drops the frozen one: it finds the in-flight command's intent (unknown, not written again)
    and applies the waiting one. The frozen writer, woken, must not write the waiting one again."""
    writers = {"writer-a": writer(plc.settings, "writer-a"),
               "writer-b": writer(plc.settings.updated({"home": tmp_path / "b",
                                                                  "writer_metrics_port": free_port()}), "writer-b")}
    plc.children.update(writers)
    before = write_count(plc, ASSET)
    first, waiting = command(0.9), command(1.1)
    asyncio.run(produce_raw(plc.settings, events.COMMANDS,
                            [(ASSET.encode(), events.encode(first)), (ASSET.encode(), events.encode(waiting))]))
    intent = wait_until(lambda: logged(plc.settings, events.COMMAND_INTENTS, first.command_id), 60,
                        what="the owner's intent in the log")[0]
    wait_until(lambda: write_count(plc, ASSET) == before + 1, 30, what="the first write at the PLC")
    owner_pid = int(intent.writer.rsplit(":", 1)[1])
    owner = next(c for c in writers.values() if c.proc.pid == owner_pid)
    successor = next(c for c in writers.values() if c is not owner)
    freeze(owner)  # the PLC's answer to the first write is still 6 s away; the second command waits
    try:
        asyncio.run(opc_write(plc, ASSET, "sim_ack_delay_s", 0.0))  # the successor's write is answered at once
        results = wait_until(lambda: (lambda r: r if r else None)(
            logged(plc.settings, events.COMMAND_RESULTS, waiting.command_id)), 120,
            what="the successor's result for the waiting command")
        assert [r.status for r in results] == ["applied"], results
        firsts = logged(plc.settings, events.COMMAND_RESULTS, first.command_id)
        assert [r.status for r in firsts] == ["unknown"], firsts  # announced by the frozen owner: not again
        assert write_count(plc, ASSET) == before + 2
    finally:
        thaw(owner)
    wait_until(lambda: "not applied: fenced" in log_text(owner) or "handed over" in log_text(owner), 90,
               what="the woken writer noticing it lost the partition")
    # Whatever it still held, the woken writer wrote nothing more: each command reached the PLC once.
    wait_until(lambda: owner.alive() and "command writer took" in log_text(owner), 90,
               what="the woken writer back in the group")
    assert write_count(plc, ASSET) == before + 2
    assert [r.status for r in logged(plc.settings, events.COMMAND_RESULTS, waiting.command_id)] == ["applied"]
    assert successor.alive()
