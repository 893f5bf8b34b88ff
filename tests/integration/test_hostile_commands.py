"""No content of a message stops actuation: hostile commands against a real writer and PLC.

On 1081d30 a command whose value was an integer beyond float range raised outside the
writer's refusal path: the writer crash-looped on that uncommitted offset and every later
command, interlock stops included, waited behind it.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import msgspec
import pytest
from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from harness.helpers import log_text, produce_raw, read_topic
from harness.plant import Plant, make_settings, only_assets, opc_read, plc_ready

pytestmark = pytest.mark.integration

ASSET = "conveyor-2"
ids = st.from_regex(events.ID_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(events.INT_MIN, events.INT_MAX),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))


@st.composite
def hostile_command(draw) -> events.Command:
    now = time.time()
    cid = f"h-{uuid.UUID(int=draw(st.integers(0, 2**128 - 1))).hex}"
    value = draw(scalars)
    return events.Command(
        event_id=cid, command_id=cid, asset_id=draw(st.sampled_from([ASSET, ASSET, "press-9", "conveyor-1"])),
        event_time=now, action=draw(st.sampled_from(["write", "call"])),
        target=draw(st.sampled_from(["speed_setpoint", "motor_on", "clear_jam", "state", "sim_write_count"]) | ids),
        value=value, args=tuple(draw(st.lists(scalars.filter(lambda v: v is not None), max_size=3))),
        cause_event_id=cid, rule=draw(st.sampled_from(["operator", "thermostat"]) | ids),
        deadline=draw(st.sampled_from([now + 30, now - 5, 1e300, 0.0]) | st.floats(0, 1e300)))


# Raw commands outside the contract: each must become a dead letter, not a crash.
BEYOND_FLOAT_RANGE = (b'{"type":"command","event_id":"x1","asset_id":"conveyor-2","event_time":1,"command_id":"x1",'
                  b'"action":"write","target":"speed_setpoint","value":' + str(10**400).encode()
                  + b',"cause_event_id":"x1","rule":"r","deadline":1e300}')



@pytest.fixture(scope="module")
def writer_and_plc(kafka, tmp_path_factory):
    home = tmp_path_factory.mktemp("hostile")
    settings = make_settings(kafka.cfg.bootstrap, home, only_assets(ASSET))
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim", "writer")
        wait_until(lambda: plc_ready(plant, ASSET), 120, what="the simulated PLC answering")
        wait_until(lambda: "command writer ready" in log_text(plant.children["writer"]), 120,
                   what="the command writer ready")
        yield plant
    finally:
        plant.stop()


def results(settings) -> dict[str, list[events.CommandResult]]:
    out: dict[str, list] = {}
    for part in asyncio.run(read_topic(settings, events.COMMAND_RESULTS)).values():
        for rec in part:
            res = events.decode(rec.value)
            out.setdefault(res.command_id, []).append(res)
    return out


@hsettings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
           phases=[Phase.explicit, Phase.generate])  # no shrinking: each example runs against real processes
@given(hostile=st.lists(hostile_command(), min_size=15, max_size=40))
def test_hostile_commands_never_stop_the_writer(writer_and_plc, hostile):
    s = writer_and_plc.settings
    nonce = uuid.uuid4().hex[:8]  # examples share one writer: each example's ids are its own
    hostile = [msgspec.structs.replace(c, command_id=f"{c.command_id}-{nonce}", event_id=f"{c.event_id}-{nonce}")
               for c in hostile]
    now = time.time()
    sentinel_value = round(0.1 + (now % 1.5), 3)
    sentinel = events.Command(event_id=f"s-{now}".replace(".", "-"), command_id=f"s-{now}".replace(".", "-"),
                              asset_id=ASSET, event_time=now, action="write", target="speed_setpoint",
                              value=sentinel_value, cause_event_id="s", rule="operator", deadline=now + 60)
    messages = [(c.asset_id.encode(), events.encode(c)) for c in hostile]
    messages.insert(len(messages) // 2, (ASSET.encode(), BEYOND_FLOAT_RANGE))
    messages.append((ASSET.encode(), events.encode(sentinel)))
    asyncio.run(produce_raw(s, events.COMMANDS, messages))

    # Lanes run assets concurrently: the sentinel's asset may finish before the hostile
    # commands of other (or unknown) assets, so wait for every id's result.
    wanted = {c.command_id for c in hostile} | {sentinel.command_id}
    done = wait_until(lambda: (lambda r: r if wanted <= r.keys() else None)(results(s)), 120,
                      what="a result for the sentinel and every hostile command")
    assert [r.status for r in done[sentinel.command_id]] == ["applied"]
    assert asyncio.run(opc_read(writer_and_plc, ASSET, "speed_setpoint")) == sentinel_value
    for cid in {c.command_id for c in hostile}:
        # One result per id; an id reused with other content adds one conflict report per other content.
        got = done.get(cid, [])
        digests = {events.command_digest(c) for c in hostile if c.command_id == cid}
        assert len([r for r in got if r.status != "conflict"]) == 1, (cid, got)
        assert len({r.event_id for r in got if r.status == "conflict"}) == len(digests) - 1, (cid, got)
    letters = [events.decode_dead_letter(r.value) for part in asyncio.run(read_topic(s, events.DEAD_LETTER)).values()
               for r in part]
    assert any(d.raw == BEYOND_FLOAT_RANGE and d.consumer == "command-writer" for d in letters)
    writer = writer_and_plc.children["writer"]
    assert writer.alive() and "Traceback" not in log_text(writer)
