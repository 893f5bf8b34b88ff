"""A real Prometheus server scrapes a running plant; the Grafana dashboard only names exported metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse

import pytest

from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.lifecycle import die_with_parent
from factory_app.config import load_plant
from harness.helpers import get_json, wait_ready
from harness.plant import REPO, Plant, make_settings

pytestmark = pytest.mark.integration
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "plant-overview.json"


def dashboard_metrics() -> set[str]:
    doc = json.loads(DASHBOARD.read_text())
    names = set()
    for panel in doc["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b((?:factory|faust)_[a-z_]+)", target["expr"]):
                names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


@pytest.fixture(scope="module")
def scraped(kafka, tmp_path_factory):
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package is required (scripts/setup.sh --tests installs it)"
    home = tmp_path_factory.mktemp("observe")
    settings = make_settings(kafka.cfg.bootstrap, home)
    plant = Plant(settings, load_plant(settings.plant_config))
    port = free_port()
    config = home / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\nscrape_configs:\n"
        f"  - job_name: worker\n    static_configs: [{{targets: ['127.0.0.1:{settings.web.port}']}}]\n"
        f"  - job_name: ingest\n    static_configs: [{{targets: ['127.0.0.1:{settings.web.ingest_metrics_port}']}}]\n"
        f"  - job_name: commands\n    static_configs: [{{targets: ['127.0.0.1:{settings.web.writer_metrics_port}']}}]\n")
    proc = None
    try:
        plant.start("sim", "writer", "worker")
        wait_ready(settings)
        plant.start("ingest")
        proc = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={home / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                stderr=open(home / "prometheus.log", "wb"), start_new_session=True,
                                preexec_fn=die_with_parent())
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: all(t["health"] == "up" for t in get_json(f"{base}/api/v1/targets")["data"]["activeTargets"])
                   and len(get_json(f"{base}/api/v1/targets")["data"]["activeTargets"]) == 3, 60,
                   what="prometheus scraping all three targets")
        yield base, plant
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        plant.stop()


def query(base: str, expr: str) -> float:
    url = f"{base}/api/v1/query?query={urllib.parse.quote(expr)}"
    result = get_json(url)["data"]["result"]
    return sum(float(r["value"][1]) for r in result)


def test_key_series_exist_and_move(scraped):
    base, _ = scraped
    wait_until(lambda: query(base, "sum(factory_adapter_telemetry_total)") > 0, 60, what="telemetry counter")
    first = query(base, "sum(factory_adapter_telemetry_total)")
    in_first = query(base, "sum(factory_events_in_total)")
    wait_until(lambda: query(base, "sum(factory_adapter_telemetry_total)") > first, 60, what="telemetry counter moving")
    wait_until(lambda: query(base, "sum(factory_events_in_total)") > in_first, 60, what="events-in counter moving")
    # Every PLC endpoint; each simulated PLC takes seconds to start, so they connect one by one.
    wait_until(lambda: query(base, "sum(factory_adapter_connected)") == 6, 180, what="all 6 PLCs connected")
    wait_until(lambda: query(base, 'sum(factory_command_results_total{status="applied"})') > 0, 60,
               what="applied command results")
    wait_until(lambda: query(base, "sum(factory_control_loop_latency_seconds_count)") > 0, 30, what="loop latency")
    wait_until(lambda: query(base, "count(factory_table_keys)") >= 5, 30, what="table sizes")
    wait_until(lambda: query(base, "count(factory_consumer_lag_messages)") > 0, 30, what="consumer lag")


def test_every_dashboard_metric_is_exported(scraped):
    base, _ = scraped
    wait_until(lambda: query(base, "count(factory_control_loop_latency_seconds_count)") > 0, 60, what="histogram")
    exported = set(get_json(f"{base}/api/v1/label/__name__/values")["data"])
    exported |= {re.sub(r"_(bucket|sum|count|total|created)$", "", n) for n in exported}
    names = dashboard_metrics()
    assert len(names) >= 10
    missing = sorted(n for n in names if n not in exported and re.sub(r"_total$", "", n) not in exported)
    assert not missing, f"dashboard names metrics nobody exports: {missing}"
