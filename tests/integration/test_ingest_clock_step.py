"""A PLC whose clock steps back must not have its samples dropped (issue: a fail-safe command path).

On 1081d30 the ingest adapter dropped every sample not newer than the last one of its tag:
a PLC clock stepped back an hour hid a jam for an hour while the asset showed "connected".
"""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from harness.helpers import read_topic
from harness.plant import Plant, make_settings, only_assets, opc_call, opc_write, plc_ready

pytestmark = pytest.mark.integration

ASSET = "conveyor-2"



def jam_samples(settings) -> list[events.Telemetry]:
    recs = asyncio.run(read_topic(settings, events.TELEMETRY))
    return [e for part in recs.values() for r in part
            if isinstance(e := events.decode(r.value), events.Telemetry) and e.asset_id == ASSET
            and e.tag == "jammed"]


def test_a_clock_stepped_back_hides_no_trip(kafka, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path, only_assets(ASSET))
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim")
        wait_until(lambda: plc_ready(plant, ASSET), 120, what="the simulated PLC answering")
        plant.start("ingest")
        first = wait_until(lambda: jam_samples(settings), 120, what="the initial jammed=false sample")
        assert [s.value for s in first] == [False]
        asyncio.run(opc_write(plant, ASSET, "sim_clock_offset_s", -3600.0))
        asyncio.run(opc_call(plant, ASSET, "inject_jam"))
        trip = wait_until(lambda: [s for s in jam_samples(settings) if s.value is True], 60,
                          what="the jam, stamped an hour earlier by the PLC's clock")
        assert trip[0].event_time < first[0].event_time - 3000
        url = f"http://127.0.0.1:{settings.web.ingest_metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                      if line.startswith("factory_adapter_clock_steps_back_total{") and ASSET in line)
        assert counted >= 1
    finally:
        plant.stop()
