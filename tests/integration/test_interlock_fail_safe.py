"""An interlock fails safe: losing the downstream machine stops what feeds it (real PLCs, real loop).

On 1081d30 the interlock ignored a lost connection to the downstream asset: with the
downstream PLC gone, the upstream conveyor kept feeding it.
"""

from __future__ import annotations

import asyncio

import pytest
import yaml

from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from harness.helpers import table_dump, wait_ready
from harness.plant import Plant, make_settings, opc_read, plc_ready

pytestmark = pytest.mark.integration

UP, DOWN = "conveyor-1", "conveyor-2"


def line(doc) -> None:
    doc["assets"] = [a for a in doc["assets"] if a["id"] in (UP, DOWN)]
    doc["rules"] = [r for r in doc["rules"] if r["kind"] == "interlock" and r["downstream"] == DOWN]


def connected(settings, asset: str) -> bool:
    return (table_dump(settings, "asset_state").get(asset) or {}).get("connection") == "connected"


def test_a_lost_downstream_plc_stops_the_upstream(kafka, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path, line)
    plant = Plant(settings, load_plant(settings.plant_config))
    assert [r.kind for r in plant.config.rules] == ["interlock"]
    doc = yaml.safe_load(settings.plant_config.read_text())
    sims = {}
    for asset in (UP, DOWN):  # each PLC in its own process, so one can be lost alone
        part = {**doc, "assets": [a for a in doc["assets"] if a["id"] == asset], "rules": []}
        path = tmp_path / f"sim-{asset}.yaml"
        path.write_text(yaml.safe_dump(part, sort_keys=False))
        sims[asset] = Child(f"sim-{asset}", ["sim", "--config", str(path)], tmp_path / "logs",
                            env=settings.to_env())
    plant.children.update(sims)
    try:
        wait_until(lambda: plc_ready(plant, UP) and plc_ready(plant, DOWN), 120, what="both PLCs answering")
        plant.start("worker", "writer")
        wait_ready(settings)
        plant.start("ingest")
        wait_until(lambda: connected(settings, UP) and connected(settings, DOWN), 120, what="both assets connected")
        assert asyncio.run(opc_read(plant, UP, "motor_on")) is True
        sims[DOWN].kill()  # the downstream PLC is gone, without a goodbye
        wait_until(lambda: asyncio.run(opc_read(plant, UP, "motor_on")) is False, 60,
                   what="the upstream conveyor stopped by the interlock")
    finally:
        plant.stop()
