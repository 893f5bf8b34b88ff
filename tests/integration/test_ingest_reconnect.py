"""The ingest adapter against a PLC that goes away and comes back."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from harness.helpers import read_topic
from harness.plant import Plant, make_settings

pytestmark = pytest.mark.integration


def log_events(settings):
    recs = asyncio.run(read_topic(settings, events.TELEMETRY))
    return [events.decode(r.value) for part in recs.values() for r in part]


def test_plc_outage_gives_transitions_and_telemetry_resumes(kafka, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path)
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim", "ingest")

        def oven_temps(after=0.0):
            return [e for e in log_events(settings) if isinstance(e, events.Telemetry) and e.asset_id == "oven-1"
                    and e.tag == "temperature" and e.event_time > after]
        wait_until(lambda: len(oven_temps()) > 20, 60, what="telemetry before the outage")

        plant.children["sim"].kill()  # the PLCs vanish without a goodbye
        killed_at = time.time()
        wait_until(lambda: any(isinstance(e, events.StateTransition) and e.asset_id == "oven-1"
                               and e.to_state == "disconnected" for e in log_events(settings)), 30,
                   what="a disconnected transition")
        time.sleep(2)
        restarted_at = time.time()
        plant.start("sim")
        wait_until(lambda: len(oven_temps(after=restarted_at)) > 20, 60, what="telemetry after the restart")

        evs = [e for e in log_events(settings) if e.asset_id == "oven-1"]
        transitions = [e.to_state for e in evs if isinstance(e, events.StateTransition)]
        assert transitions == ["connected", "disconnected", "connected"]
        # Nothing was invented for the outage: no sample is timed between the kill and the restart ...
        assert not [e for e in evs if isinstance(e, events.Telemetry) and killed_at + 0.5 < e.event_time < restarted_at]
        # ... and no sample was sent twice (source timestamps strictly increase per tag).
        per_tag = defaultdict(list)
        for e in evs:
            if isinstance(e, events.Telemetry):
                per_tag[e.tag].append(e.event_time)
        for tag, times in per_tag.items():
            assert all(a < b for a, b in zip(times, times[1:])), tag
        # Every asset reconnected, not only the one we watched.
        everyone = {a.id for a in plant.config.assets}
        wait_until(lambda: {e.asset_id for e in log_events(settings)
                            if isinstance(e, events.StateTransition) and e.to_state == "connected"
                            and e.event_time > restarted_at} == everyone, 30, what="every asset reconnected")
    finally:
        plant.stop()
