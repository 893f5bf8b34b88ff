"""The command writer rides through a PLC outage: it tries again until each command's deadline,
reconnects when the PLC is back (its old session dead), and never writes after a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from factory_app import events
from factory_app.children import wait_until
from harness.helpers import log_text, produce_raw, read_topic
from harness.plant import make_settings, only_assets, opc_read, plc_ready, writer_and_plc, write_count

pytestmark = pytest.mark.integration


def command(value: float, ttl: float) -> events.Command:
    now = time.time()
    cid = f"op-{uuid.uuid4().hex[:12]}"
    return events.Command(event_id=cid, command_id=cid, asset_id="conveyor-1", event_time=now, action="write",
                          target="speed_setpoint", value=value, cause_event_id=cid, rule="operator",
                          deadline=now + ttl)


def result_of(settings, cmd: events.Command) -> events.CommandResult | None:
    recs = asyncio.run(read_topic(settings, events.COMMAND_RESULTS))
    found = [r for part in recs.values() for rec in part if (r := events.decode(rec.value)).command_id == cmd.command_id]
    return found[0] if found else None


def send(settings, cmd: events.Command) -> None:
    asyncio.run(produce_raw(settings, events.COMMANDS, [(cmd.asset_id.encode(), events.encode(cmd))]))


def test_the_writer_retries_until_the_deadline_and_reconnects_when_the_plc_returns(kafka, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path, only_assets("conveyor-1"))
    plant = writer_and_plc(settings, "conveyor-1")
    try:
        first = command(1.1, ttl=30)
        send(settings, first)
        got = wait_until(lambda: result_of(settings, first), 60, what="the first command's result")
        assert got.status == "applied", got  # the writer now holds a session to the PLC

        plant.children["sim"].stop(timeout=15)  # the PLC goes away
        lost = command(1.3, ttl=3.0)
        send(settings, lost)
        got = wait_until(lambda: result_of(settings, lost), 60, what="the result of a command the PLC missed")
        assert got.status == "expired", got
        assert "connection attempt" in got.detail and "nothing sent" in got.detail, got.detail

        late = command(1.6, ttl=45.0)  # outlives the outage
        send(settings, late)
        wait_until(lambda: f"for command {late.command_id}" in log_text(plant.children["writer"]), 60,
                   what="the writer trying again to reach the PLC")
        plant.start("sim")
        wait_until(lambda: plc_ready(plant, "conveyor-1"), 120, what="conveyor-1's PLC back")
        got = wait_until(lambda: result_of(settings, late), 60, what="the result of the command sent during the outage")
        assert got.status == "applied" and got.readback == 1.6, got
        assert asyncio.run(opc_read(plant, "conveyor-1", "speed_setpoint")) == 1.6
        # The restarted PLC was written once (the late command), never the expired one.
        assert write_count(plant, "conveyor-1") == 1
    finally:
        plant.stop()
