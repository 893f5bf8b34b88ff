"""`factory run` as a user runs it: stopped by any signal, it leaves nothing running; a second
instance, a busy port or a dying child each end it at once with one clear message."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.lifecycle import die_with_parent
from factory_app.settings import Settings
from tests.conftest import REPO, kafka_version
from harness.helpers import worker_ready
from harness.plant import plant_file

pytestmark = pytest.mark.integration


def run_env(kafka, home: Path, **extra) -> tuple[dict[str, str], Settings]:
    tag = uuid.uuid4().hex[:8]
    home.mkdir(parents=True, exist_ok=True)
    env = {"FACTORY_HOME": str(home), "FACTORY_BOOTSTRAP": kafka.cfg.bootstrap, "FACTORY_TOPIC_PREFIX": f"r{tag}.",
           "FACTORY_APP_ID": f"run-{tag}", "FACTORY_WEB_PORT": str(free_port()),
           "FACTORY_INGEST_METRICS_PORT": str(free_port()), "FACTORY_WRITER_METRICS_PORT": str(free_port()),
           "FACTORY_UI_PORT": str(free_port()), "FACTORY_SNAPSHOTS_METRICS_PORT": str(free_port()),
           "FACTORY_PLANT_CONFIG": str(plant_file(home / "plant.yaml")), "FACTORY_KAFKA_VERSION": kafka_version(),
           "FACTORY_KAFKA_JARS": str(REPO / ".factory"), **extra}
    return env, Settings(home=home, web_port=int(env["FACTORY_WEB_PORT"]))


def start_run(env: dict[str, str], home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "factory_app", "run", "--plain", *args], cwd=REPO,
                            env={**os.environ, **env}, stdout=open(home / "run.out", "ab"), stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent())


def children_of(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except FileNotFoundError:
        return set()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def output(home: Path) -> str:
    return (home / "run.out").read_text(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=["term", "hup", "kill"])
def test_no_child_outlives_factory_run(kafka, tmp_path, sig):
    """On 1081d30 a `kill` or a closed terminal left the PLCs, worker, ingest and the command
    writer (still writing to the PLCs) running under PID 1."""
    env, settings = run_env(kafka, tmp_path / "home")
    # The simulated PLCs take longest to start; one case (the hardest: SIGKILL) includes them.
    with_sim = sig == signal.SIGKILL
    run = start_run(env, settings.home, *(() if with_sim else ("--no-sim",)))
    kids: set[int] = set()
    try:
        wait_until(lambda: worker_ready(settings) and len(children_of(run.pid)) == (6 if with_sim else 5), 180,
                   what="factory run with its children and a ready worker")
        kids = children_of(run.pid)
        if sig == signal.SIGTERM:
            # While it runs, a second instance on the same home is refused at once, naming the first.
            second = subprocess.run([sys.executable, "-m", "factory_app", "run", "--plain"], cwd=REPO,
                                    env={**os.environ, **env, "FACTORY_WEB_PORT": str(free_port())},
                                    capture_output=True, text=True, timeout=60)
            assert second.returncode != 0
            assert f"another `factory run` (pid {run.pid})" in second.stderr
        run.send_signal(sig)
        run.wait(60)
        wait_until(lambda: not any(alive(k) for k in kids), 60, what="every child of factory run gone")
        if sig != signal.SIGKILL:
            assert "plant stopped" in output(settings.home)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for k in kids:
            if alive(k):
                os.kill(k, signal.SIGKILL)


def test_a_busy_port_is_named_before_anything_starts(kafka, tmp_path):
    env, settings = run_env(kafka, tmp_path / "home")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.web.port))
        squatter.listen()
        proc = subprocess.run([sys.executable, "-m", "factory_app", "run", "--plain"], cwd=REPO,
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"{settings.web.port} (worker web (FACTORY_WEB_PORT))" in proc.stderr
    assert "Traceback" not in proc.stderr and not (settings.home / "logs").exists()


def test_a_dying_child_ends_factory_run_at_once_with_its_log(kafka, tmp_path):
    """On 1081d30 `factory run` waited 120 s for a worker that had died in 2 s, then printed a
    timeout traceback."""
    env, settings = run_env(kafka, tmp_path / "home", FACTORY_PROCESSORS='["no-such-processor"]')
    run = start_run(env, settings.home)
    try:
        assert run.wait(300) != 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    text = output(settings.home)
    assert "worker exited with code" in text and "no-such-processor" in text, text[-2000:]
    assert "Traceback" not in text.split("worker exited with code")[0]
    assert "was not ready after" not in text  # ended by the death, not by the readiness timeout


def test_another_app_id_on_the_same_home_keeps_its_own_state(tmp_path):
    a = Settings(home=tmp_path, app_id="plant-a")
    b = Settings(home=tmp_path, app_id="plant-b")
    assert a.data_dir != b.data_dir and a.data_dir.parent == b.data_dir.parent
