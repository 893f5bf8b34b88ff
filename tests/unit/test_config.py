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


ASSET = ("  - id: p1\n    type: press\n    endpoint: opc.tcp://x:1/\n    namespace: u\n    object: p1\n"
         "    read:\n      - {tag: mode, node: n1}\n      - {tag: strokes, node: n2}\n")


def test_asset_facts_come_from_its_type_and_its_own_keys_win(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("asset_types:\n  press:\n    state_tag: mode\n"
                    "    production: {ideal_cycle_s: 3.0, cycle_counter: strokes, good_counter: null, bad_counter: null}\n"
                    "assets:\n" + ASSET + ASSET.replace("p1", "p2") + "    production: {ideal_cycle_s: 1.5, cycle_counter: strokes,"
                    " good_counter: null, bad_counter: null}\n"
                    "rules:\n  - {kind: auto_reset, name: r, asset: p1, fault_tag: strokes, method: m}\n")
    with pytest.raises(ConfigError, match="method"):  # the rule's method is not in the allow-list
        load_plant(path)
    path.write_text(path.read_text().replace("rules:\n  - {kind: auto_reset, name: r, asset: p1, fault_tag: strokes, "
                                             "method: m}\n", ""))
    plant = load_plant(path)
    p1, p2 = plant.asset("p1"), plant.asset("p2")
    assert p1.state_tag == p2.state_tag == "mode"
    assert p1.production.ideal_cycle_s == 3.0 and p2.production.ideal_cycle_s == 1.5


def test_an_auto_reset_rule_reads_its_assets_state_tag(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("asset_types:\n  press: {state_tag: mode}\nassets:\n"
                    + ASSET.replace("      - {tag: strokes, node: n2}\n", "      - {tag: fault_active, node: n2}\n")
                    + "    methods:\n      - {name: reset_fault, node: n3}\n"
                    "rules:\n  - {kind: auto_reset, name: r, asset: p1}\n")
    assert load_plant(path).rules[0].state_tag == "mode"


def test_a_fact_naming_a_tag_the_asset_does_not_read_names_the_key(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("assets:\n" + ASSET + "    production: {ideal_cycle_s: 2.0}\n")
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    msg = str(info.value)
    assert "assets.0" in msg and "production.cycle_counter 'cycle_counter' is not one of the asset's read tags" in msg
    path.write_text("assets:\n" + ASSET + "    state_tag: status\n")
    with pytest.raises(ConfigError, match="state_tag 'status' is not one of"):
        load_plant(path)
    path.write_text("assets:\n" + ASSET + "    production: {ideal_cycle_s: 0, cycle_counter: strokes}\n")
    with pytest.raises(ConfigError, match="assets.0.production.ideal_cycle_s"):
        load_plant(path)


def test_a_secured_session_must_pin_the_plcs_certificate(tmp_path):
    """Issue 29, item 14: Sign/SignAndEncrypt with credentials and no server_certificate trusted any
    server; such a plant file is refused, naming the asset's key and why."""
    path = tmp_path / "p.yaml"
    path.write_text("assets:\n" + ASSET + "    security: {mode: SignAndEncrypt, policy: Basic256Sha256, certificate: c.der,"
                    " private_key: c.pem, username_env: PLC_USER, password_env: PLC_PASS}\n")
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    assert "assets.0.security" in str(info.value) and "need server_certificate" in str(info.value)
    assert "man in the middle" in str(info.value)
    path.write_text(path.read_text().replace("private_key: c.pem,", "private_key: c.pem, server_certificate: plc.der,"))
    assert load_plant(path).asset("p1").security.server_certificate.name == "plc.der"
