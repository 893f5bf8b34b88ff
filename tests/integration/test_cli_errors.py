"""Every CLI failure a new user meets first is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from factory_app.broker.node import free_port
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def factory(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factory_app", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


@pytest.mark.parametrize("args,expect", [
    (("state-at", "--time", "yesterday-ish"), "'yesterday-ish' is not a time"),
    (("rewind", "--to-datetime", "soon"), "'soon' is not a time"),
])
def test_a_malformed_time_is_one_line(args, expect):
    proc = factory(*args, FACTORY_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and expect in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [("state-at", "--time", "2026-11-26T08:00:00"), ("topics",), ("rebuild", "all")])
def test_no_broker_is_one_line_that_says_what_to_do(args):
    port = free_port()  # nothing listens there
    proc = factory(*args, FACTORY_BOOTSTRAP=f"127.0.0.1:{port}")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in proc.stderr and "factory broker start" in proc.stderr
