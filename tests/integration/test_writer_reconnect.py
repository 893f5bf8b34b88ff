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


def test_a_rules_command_retrying_when_the_asset_goes_to_manual_is_rejected_not_written(kafka, tmp_path):
    """Issue 29, item 10: before, a rule's command retrying an unreachable PLC was written when the
    PLC came back, although an operator had taken the asset into manual meanwhile."""
    import os
    import subprocess
    import sys

    def oven_and_its_thermostat(doc) -> None:
        doc["assets"] = [a for a in doc["assets"] if a["id"] == "oven-1"]
        doc["rules"] = [r for r in doc["rules"] if r["name"] == "oven-1-thermostat"]
    settings = make_settings(kafka.cfg.bootstrap, tmp_path, oven_and_its_thermostat)
    plant = writer_and_plc(settings, "oven-1")
    try:
        now = time.time()
        warm = events.Command(event_id="warm", command_id="warm", asset_id="oven-1", event_time=now, action="write",
                              target="heater_power", value=5.0, cause_event_id="warm", rule="operator",
                              deadline=now + 30)
        send(settings, warm)
        assert wait_until(lambda: result_of(settings, warm), 60, what="the operator's command").status == "applied"

        plant.children["sim"].stop(timeout=15)  # the PLC goes away; the thermostat's command waits for it
        now = time.time()
        heat = events.Command(event_id="heat", command_id="heat", asset_id="oven-1", event_time=now, action="write",
                              target="heater_power", value=40.0, cause_event_id="t-1", rule="oven-1-thermostat",
                              deadline=now + 50)
        send(settings, heat)
        wait_until(lambda: f"for command {heat.command_id}" in log_text(plant.children["writer"]), 60,
                   what="the writer trying again to reach the PLC")
        mode = subprocess.run([sys.executable, "-m", "factory_app", "mode", "oven-1", "manual", "--reason",
                               "heater maintenance"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **settings.to_env()})
        assert mode.returncode == 0, mode.stderr
        plant.start("sim")
        wait_until(lambda: plc_ready(plant, "oven-1"), 120, what="oven-1's PLC back")
        got = wait_until(lambda: result_of(settings, heat), 60, what="the thermostat command's result")
        assert got.status == "rejected", got
        assert "oven-1 is in manual (set by operator" in got.detail and "nothing sent" in got.detail, got.detail
        assert write_count(plant, "oven-1") == 0  # the restarted PLC was never written
        # The operator's own command still acts in manual.
        now = time.time()
        mine = events.Command(event_id="mine", command_id="mine", asset_id="oven-1", event_time=now, action="write",
                              target="heater_power", value=7.0, cause_event_id="mine", rule="operator",
                              deadline=now + 30)
        send(settings, mine)
        assert wait_until(lambda: result_of(settings, mine), 60, what="the operator's command in manual").status \
            == "applied"
    finally:
        plant.stop()
