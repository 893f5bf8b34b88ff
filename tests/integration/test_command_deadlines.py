"""The command writer keeps a command's deadline at the moment it acts, with a real PLC behind a
slow link (issue: a fail-safe command path)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest
import yaml

from factory_app import events
from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from harness.helpers import log_text, produce_raw, read_topic
from harness.plant import Plant, make_settings, only_assets, plc_ready, write_count
from tests.slow_link import SlowLink

pytestmark = pytest.mark.integration

ASSET = "conveyor-2"
LINK_DELAY_S = 0.4  # every answer of the PLC arrives this late (a second broke asyncua's 1 s session watchdog)



def command(value: float, ttl: float) -> events.Command:
    now = time.time()
    cid = f"op-{uuid.uuid4().hex[:12]}"
    return events.Command(event_id=cid, command_id=cid, asset_id=ASSET, event_time=now, action="write",
                          target="speed_setpoint", value=value, cause_event_id=cid, rule="operator",
                          deadline=now + ttl)


def result_of(settings, command_id: str) -> events.CommandResult | None:
    recs = asyncio.run(read_topic(settings, events.COMMAND_RESULTS))
    found = [r for part in recs.values() for rec in part
             if (r := events.decode(rec.value)).command_id == command_id]
    return found[0] if found else None


def send(settings, cmd: events.Command) -> events.CommandResult:
    asyncio.run(produce_raw(settings, events.COMMANDS, [(ASSET.encode(), events.encode(cmd))]))
    return wait_until(lambda: result_of(settings, cmd.command_id), 120, what=f"the result of {cmd.command_id}")


@pytest.fixture(scope="module")
def slow_plc(kafka, tmp_path_factory):
    home = tmp_path_factory.mktemp("deadlines")
    settings = make_settings(kafka.cfg.bootstrap, home, only_assets(ASSET))
    plant = Plant(settings, load_plant(settings.plant_config))
    port = int(re.search(r":(\d+)/", plant.config.asset(ASSET).endpoint).group(1))
    with SlowLink(port, LINK_DELAY_S) as link:
        doc = yaml.safe_load(settings.plant_config.read_text())
        doc["assets"][0]["endpoint"] = doc["assets"][0]["endpoint"].replace(f":{port}/", f":{link.port}/")
        (home / "writer.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        writer_settings = settings.updated({"plant_config": home / "writer.yaml"})
        try:
            plant.start("sim")
            wait_until(lambda: plc_ready(plant, ASSET), 120, what="the simulated PLC answering")
            writer = plant.children["writer"] = Child("writer", ["adapter", "commands"], home / "logs",
                                                      env=writer_settings.to_env())
            wait_until(lambda: "command writer ready" in log_text(writer), 120, what="the command writer ready")
            plant.link = link
            yield plant
        finally:
            plant.stop()


def test_a_deadline_that_passes_while_connecting_sends_nothing(slow_plc):
    """On 1081d30 the deadline was checked once, before the session was opened: this command,
    with 0.8 s to live, was written seconds late and reported applied."""
    before = write_count(slow_plc, ASSET)
    result = send(slow_plc.settings, command(1.1, ttl=2 * LINK_DELAY_S))  # opening a session takes 5+ answers
    assert result.status == "expired" and "nothing sent" in result.detail, result
    assert write_count(slow_plc, ASSET) == before


def test_a_write_without_an_answer_in_time_is_an_unknown_outcome(slow_plc):
    ok = send(slow_plc.settings, command(1.2, ttl=60.0))  # opens the (slow) session and writes
    assert ok.status == "applied", ok
    # The PLC's answers slow down beyond the round trips seen so far: the write is sent (more time
    # left than the observed round trip) and not answered in time.
    slow_plc.link.delay = 0.9
    try:
        late = send(slow_plc.settings, command(1.3, ttl=0.8))
    finally:
        slow_plc.link.delay = LINK_DELAY_S
    # Sent and not answered in time: unknown (it may have landed). Expired, had the Kafka hop
    # alone used up the time above the round trip.
    assert late.status in ("unknown", "expired"), late
    assert ("outcome unknown" if late.status == "unknown" else "nothing sent") in late.detail, late


def test_a_write_is_not_sent_with_less_time_left_than_the_plcs_round_trip(slow_plc):
    """Before: a command with 0.35 s to live was sent to a PLC whose writes take 0.4 s, and landed
    after its deadline (reported unknown). Now it is expired, nothing sent, and counted."""
    ok = send(slow_plc.settings, command(1.4, ttl=60.0))  # a round trip of >= 0.4 s observed
    assert ok.status == "applied", ok
    before = write_count(slow_plc, ASSET)
    late = send(slow_plc.settings, command(1.5, ttl=0.35))
    assert late.status == "expired" and "nothing sent" in late.detail, late
    # Almost always the margin's refusal; "deadline passed" only if the Kafka hop took 0.35 s.
    assert "observed write round trip" in late.detail or "deadline passed" in late.detail, late
    assert write_count(slow_plc, ASSET) == before, "the write reached the PLC"
