"""An invalid plant file stops every role before anything starts, with a message naming the problem."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from harness.plant import plant_file

CASES = {
    "yaml syntax": (None, "assets: [\n  - id: oven-1\n    type: oven\n  bad indent", "not valid YAML"),
    "unknown machine type": (lambda d: d["assets"][0].update(type="toaster"), None, "assets.0.type"),
    "limits inverted": (lambda d: d["assets"][0]["write"][0].update(min=100, max=0), None, "is above max"),
    "typo in a key": (lambda d: d["assets"][2].update(reads=[]), None, "assets.2.reads"),
    "rule on unknown asset": (lambda d: d["rules"][0].update(asset="oven-9"), None, "unknown asset 'oven-9'"),
    "rule writes a read-only tag": (lambda d: d["rules"][0].update(output="temperature"), None,
                                    "not in its write list"),
    "duplicate asset": (lambda d: d["assets"].append(dict(d["assets"][0])), None, "duplicate asset id oven-1"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("role", [["sim"], ["adapter", "ingest"], ["adapter", "commands"], ["worker"]])
def test_invalid_plant_file_is_refused(tmp_path, name, role):
    edit, text, expected = CASES[name]
    path = tmp_path / "plant.yaml"
    if text is not None:
        path.write_text(text)
    else:
        plant_file(path, edit)
    # A bootstrap nobody listens on: if the role got past validation it would hang, not exit.
    env = {**os.environ, "FACTORY_PLANT_CONFIG": str(path), "FACTORY_BOOTSTRAP": "127.0.0.1:1",
           "FACTORY_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "factory_app", *role], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr
    assert str(path) in proc.stderr  # the message names the file
    if role == ["sim"] and text is None:
        port = int(__import__("yaml").safe_load(path.read_text())["assets"][0]["endpoint"].split(":")[2].split("/")[0])
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "no PLC was started"
