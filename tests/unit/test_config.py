import pytest

from factory_app.config import ConfigError, load_plant
from harness.plant import REPO


def test_the_shipped_plant_file_is_valid():
    plant = load_plant(REPO / "config" / "plant.yaml")
    assert {a.type for a in plant.assets} == {"oven", "conveyor", "press"}
    assert len(plant.assets) >= 6


def test_errors_name_file_line_and_key(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("assets:\n  - id: a\n    type: oven\n    endpoint: opc.tcp://x:1/\n    namespace: u\n"
                    "    object: a\n    read: []\n    write:\n      - {tag: t, node: n, type: float, min: 5, max: 1}\n")
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    msg = str(info.value)
    assert f"{path}:9" in msg and "assets.0.write.0" in msg and "above max" in msg


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_plant(tmp_path / "none.yaml")


def test_credentials_come_from_the_environment(monkeypatch):
    from factory_app.config import Security

    sec = Security(username_env="PLC_USER", password_env="PLC_PASS")
    monkeypatch.delenv("PLC_USER", raising=False)
    with pytest.raises(ConfigError, match="PLC_USER"):
        sec.credentials()
    monkeypatch.setenv("PLC_USER", "op")
    monkeypatch.setenv("PLC_PASS", "secret")
    assert sec.credentials() == ("op", "secret")
