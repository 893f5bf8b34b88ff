"""A rule kind from an installed package (entry point ``factory.rules``) runs in a real worker:
the plant file names it, the worker folds it and issues its commands, with nothing of the project edited."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from factory_app import events
from factory_app.children import wait_until
from harness.helpers import produce_raw, read_topic, start_worker, wait_ready
from harness.plant import make_settings

pytestmark = pytest.mark.integration

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "factory-rule-demo"


def installed_plugin(tmp_path: Path) -> Path:
    """The demo package built and installed (pip, from a copy of its source) into a site dir of its own."""
    src, site = tmp_path / "src", tmp_path / "site"
    shutil.copytree(PLUGIN, src)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                           "--target", str(site), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return site


def with_overheat_rule(doc) -> None:
    doc["assets"] = [a for a in doc["assets"] if a["id"] == "oven-1"]
    doc["rules"] = [{"kind": "high_limit", "name": "oven-1-overheat", "asset": "oven-1", "input": "temperature",
                     "limit": 250.0, "output": "heater_power", "value": 0.0}]


def test_a_rule_kind_from_an_installed_package_runs_in_the_worker(kafka, tmp_path, monkeypatch):
    site = installed_plugin(tmp_path)
    (tmp_path / "plant").mkdir()
    settings = make_settings(kafka.cfg.bootstrap, tmp_path / "plant", with_overheat_rule)
    # Without the package the plant file is refused, naming the kinds there are.
    refused = subprocess.run([sys.executable, "-m", "factory_app", "whatif", "--proposed", str(settings.plant_config)],
                             capture_output=True, text=True, env=settings.to_env() | {"PATH": "/usr/bin:/bin"})
    assert refused.returncode == 1 and "high_limit" in refused.stderr and "thermostat" in refused.stderr

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    worker = start_worker(settings)  # inherits PYTHONPATH: the package is installed for it
    try:
        wait_ready(settings, 180, worker)
        now = time.time()
        readings = [events.Telemetry(event_id=uuid.uuid4().hex, asset_id="oven-1", event_time=now + i, tag="temperature",
                                     value=v, seq=i + 1) for i, v in enumerate([200.0, 260.0])]
        asyncio.run(produce_raw(settings, events.TELEMETRY, [(e.asset_id.encode(), events.encode(e)) for e in readings]))

        def issued():
            recs = asyncio.run(read_topic(settings, events.COMMANDS))
            return [c for part in recs.values() for r in part if (c := events.decode(r.value)).rule == "oven-1-overheat"]
        [cmd] = wait_until(issued, 60, what="the plug-in rule's command")
        assert (cmd.asset_id, cmd.target, cmd.value, cmd.cause_event_id) == ("oven-1", "heater_power", 0.0,
                                                                            readings[1].event_id)
    finally:
        worker.stop(timeout=15)
