"""The command writer killed (SIGKILL) during a closed-loop run, 5 times in the default suite and 10
with FACTORY_LONG_TESTS=1 (the suite's time budget): one result per command, no double writes."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter

import pytest

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from harness.helpers import caught_up, produce_raw, read_topic, wait_ready
from harness.plant import Plant, make_settings, wait_plcs_ready, write_count
from tests.conftest import LONG_TESTS

pytestmark = pytest.mark.integration
WRITER_KILLS = 10 if LONG_TESTS else 5


def decoded(settings, topic):
    recs = asyncio.run(read_topic(settings, topic))
    return [events.decode(r.value) for part in recs.values() for r in part]


def test_writer_killed_repeatedly(kafka, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path)
    plant = Plant(settings, load_plant(settings.plant_config))
    stop = threading.Event()

    def operator():  # extra commands through Kafka, so kills often land mid-apply
        i = 0
        while not stop.is_set():
            now = time.time()
            cid = f"op-{i}"
            cmd = events.Command(event_id=cid, command_id=cid, asset_id="conveyor-2", event_time=now, action="write",
                                 target="speed_setpoint", value=0.5 + (i % 15) / 10, cause_event_id=cid,
                                 rule="operator", deadline=now + 60)
            asyncio.run(produce_raw(settings, events.COMMANDS, [(b"conveyor-2", events.encode(cmd))]))
            i += 1
            time.sleep(0.15)
    try:
        plant.start("sim", "worker", "writer")
        wait_ready(settings)
        wait_plcs_ready(plant)
        plant.start("ingest")
        feeder = threading.Thread(target=operator)
        feeder.start()
        rng = random.Random(23)
        for k in range(WRITER_KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            plant.children["writer"].kill()
            plant.start("writer")
        time.sleep(2)
        stop.set()
        feeder.join()
        # No new commands from here on (the thermostats would keep acting): the counts below
        # compare the PLCs' writes with the results of a finished set of commands.
        plant.children["ingest"].stop()
        plant.children["worker"].stop()
        wait_until(lambda: {c.command_id for c in decoded(settings, events.COMMANDS)}
                   <= {r.command_id for r in decoded(settings, events.COMMAND_RESULTS)}, 90,
                   what="a result for every command")
        # A duplicate result could only come from a command the writer had not committed yet.
        wait_until(lambda: caught_up(settings.updated({"app_id": settings.worker.app_id + "-command-writer"}),
                                     ("commands",)), 60, what="the writer to commit every command")
        commands = decoded(settings, events.COMMANDS)
        results = decoded(settings, events.COMMAND_RESULTS)
        per_command = Counter(r.command_id for r in results)
        assert len(commands) > 50
        assert set(per_command.values()) == {1}, [c for c, n in per_command.items() if n > 1]
        by_asset = {}
        for r in results:
            kind = "applied" if r.status.startswith("applied") else "unknown" if r.status == "unknown" else "other"
            by_asset.setdefault(r.asset_id, Counter())[kind] += 1
        for asset, counts in by_asset.items():
            writes = write_count(plant, asset)
            # every applied command wrote once; a command whose outcome is unknown wrote at most once
            assert counts["applied"] <= writes <= counts["applied"] + counts["unknown"], (asset, writes, counts)
    finally:
        stop.set()
        plant.stop()
