"""Settings are grouped by concern in code and stay flat, unique FACTORY_* names outside it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from factory_app.broker.settings import BrokerSettings
from factory_app.settings import ENV_NAMES, Settings

REPO = Path(__file__).resolve().parents[2]


def test_flat_environment_variables_land_in_their_groups(monkeypatch):
    monkeypatch.setenv("FACTORY_BOOTSTRAP", "127.0.0.1:1,127.0.0.1:2")
    monkeypatch.setenv("FACTORY_WEB_PORT", "7001")
    monkeypatch.setenv("FACTORY_PROCESSORS", '["availability"]')
    monkeypatch.setenv("FACTORY_CHANGELOG_CONFIGS", '{"segment.ms": "500"}')
    monkeypatch.setenv("FACTORY_MAX_COMMAND_DEADLINE", "12.5")
    s = Settings()
    assert s.kafka.hosts == ["127.0.0.1:1", "127.0.0.1:2"] and s.kafka.replication == 2
    assert s.web.port == 7001 and s.worker.processors == ["availability"]
    assert s.kafka.changelog_configs == {"segment.ms": "500"} and s.adapters.max_command_deadline == 12.5


def test_constructor_names_win_over_the_environment_and_updated_keeps_the_rest(monkeypatch):
    monkeypatch.setenv("FACTORY_WEB_PORT", "7001")
    monkeypatch.setenv("FACTORY_APP_ID", "from-env")
    s = Settings(web_port=7002)
    assert s.web.port == 7002 and s.worker.app_id == "from-env"
    t = s.updated({"app_id": "other", "home": Path("/tmp/x")})
    assert (t.worker.app_id, t.web.port, t.home, s.worker.app_id) == ("other", 7002, Path("/tmp/x"), "from-env")
    with pytest.raises(ValidationError):
        s.updated({"partitions": 0})


def test_a_child_given_to_env_has_the_same_settings(monkeypatch):
    s = Settings(home=Path("/tmp/h"), bootstrap="127.0.0.1:5", processors=["control"], batched_tables=False,
                 changelog_configs={"a": "b"}, worker_data=Path("/tmp/w"))
    for name in [n for n in list(__import__("os").environ) if n.startswith("FACTORY_")]:
        monkeypatch.delenv(name)
    for name, value in s.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == s


def test_every_factory_variable_of_the_deployment_is_a_known_setting():
    known = {"FACTORY_" + n.upper() for n in [*ENV_NAMES, "home", "plant_config", *BrokerSettings.model_fields]}
    known |= {"FACTORY_LOG_FORMAT", "FACTORY_HEALTH_URL"}  # the CLI's and the image's own
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    used = {name for svc in compose["services"].values() for name in (svc.get("environment") or {})
            if name.startswith("FACTORY_")}
    assert used and used <= known, used - known


def test_the_development_broker_settings_are_not_runtime_settings():
    assert not set(BrokerSettings.model_fields) & set(ENV_NAMES)
    assert "kafka_version" not in Settings.model_fields
