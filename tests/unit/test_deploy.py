"""docker-compose.yml, the Prometheus config and the Dockerfile agree with the project (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import yaml

from factory_app.cli import main
from factory_app.config import load_plant

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
PROM = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
FACTORY_SERVICES = {n: s for n, s in COMPOSE["services"].items() if s.get("image") == "factory-control:latest"}


def resolve(args: list[str]) -> click.Command:
    cmd: click.Command = main
    for word in args:
        if word.startswith("-"):
            break  # the options that follow are the command's own
        assert isinstance(cmd, click.Group) and word in cmd.commands, f"'factory {' '.join(args)}' does not exist"
        cmd = cmd.commands[word]
    return cmd


def test_every_factory_service_runs_a_real_subcommand():
    assert {"worker", "ingest", "commands", "sim", "topics"} <= set(FACTORY_SERVICES)
    for name, svc in FACTORY_SERVICES.items():
        assert not isinstance(resolve(svc["command"]), click.Group), name


def test_config_paths_exist_in_the_image():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY config /app/config" in dockerfile
    for name, svc in FACTORY_SERVICES.items():
        path = svc["environment"]["FACTORY_PLANT_CONFIG"]
        assert path.startswith("/app/config/"), name
        plant = load_plant(REPO / "config" / path.removeprefix("/app/config/"))
        hosts = {re.match(r"opc\.tcp://([^:/]+)", a.endpoint).group(1) for a in plant.assets}
        assert hosts == {"sim"}, "containers reach the simulated PLCs at the sim service"


def test_compose_plant_is_the_local_plant_on_another_host():
    local = load_plant(REPO / "config" / "plant.yaml")
    compose = load_plant(REPO / "config" / "plant.compose.yaml")
    assert [a.model_copy(update={"endpoint": ""}) for a in local.assets] == \
           [a.model_copy(update={"endpoint": ""}) for a in compose.assets]
    assert local.rules == compose.rules


def test_metrics_ports_match_the_scrape_config():
    targets = {t for job in PROM["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    env = {n: s["environment"] for n, s in FACTORY_SERVICES.items()}
    assert f"worker:{env['worker']['FACTORY_WEB_PORT']}" in targets
    assert f"ingest:{env['ingest']['FACTORY_INGEST_METRICS_PORT']}" in targets
    assert f"commands:{env['commands']['FACTORY_WRITER_METRICS_PORT']}" in targets
    for name in ("worker", "ingest", "commands"):
        assert env[name]["FACTORY_METRICS_HOST"] == "0.0.0.0" and env[name]["FACTORY_WEB_HOST"] == "0.0.0.0"
        assert env[name]["FACTORY_BOOTSTRAP"] == "kafka:9092"


def test_volumes_point_at_files_in_the_repo():
    for name in ("prometheus", "grafana"):
        for volume in COMPOSE["services"][name]["volumes"]:
            source = volume.split(":")[0]
            assert (REPO / source).exists(), f"{name}: {source} missing"
    dashboards = list((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert dashboards


def test_workers_scale_and_restart():
    worker = COMPOSE["services"]["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["deploy"]["restart_policy"]["condition"] == "any"
    kafka_env = COMPOSE["services"]["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_dockerfile_runs_as_non_root_with_a_health_check():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "HEALTHCHECK" in text and "/ready/" in text
    assert 'ENTRYPOINT ["factory"]' in text
    assert text.count("FROM ") == 2  # build stage + slim runtime stage


def test_every_long_running_role_has_a_working_health_check():
    for name, svc in FACTORY_SERVICES.items():
        if svc.get("healthcheck", {}).get("disable"):
            assert name in ("sim", "topics"), name
            continue
        url = svc["environment"].get("FACTORY_HEALTH_URL", f"http://127.0.0.1:{svc['environment'].get('FACTORY_WEB_PORT', '6066')}/ready/")
        port = re.search(r":(\d+)/", url).group(1)
        own = {"worker": "FACTORY_WEB_PORT", "ingest": "FACTORY_INGEST_METRICS_PORT",
               "commands": "FACTORY_WRITER_METRICS_PORT", "ui": "FACTORY_UI_PORT",
               "snapshots": "FACTORY_SNAPSHOTS_METRICS_PORT"}[name]
        assert svc["environment"][own] == port, name


def test_the_broker_keeps_its_log_in_its_data_volume():
    from factory_app.broker.versions import DEFAULT_KAFKA_VERSION

    kafka = COMPOSE["services"]["kafka"]
    env = kafka["environment"]
    log_dirs = env.get("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")  # the apache/kafka image's default
    mounts = {v.split(":")[1] for v in kafka.get("volumes", []) if v.split(":")[0] in COMPOSE.get("volumes", {})}
    for log_dir in log_dirs.split(","):
        assert log_dir in mounts, f"the broker's log dir {log_dir} is not a named volume: the log dies with the container"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", str(env.get("CLUSTER_ID", ""))), "a fixed 22-character cluster id"
    assert kafka["image"] == f"apache/kafka:{DEFAULT_KAFKA_VERSION}", "the Kafka version the tests run"
