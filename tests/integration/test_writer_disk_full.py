"""A full disk under the command writer's ledger: a command it cannot record is not sent to the PLC,
the result says why, the writer keeps running, and once space is freed it applies commands again."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

from factory_app import events
from factory_app.children import wait_until
from harness.plant import make_settings, only_assets, writer_and_plc, write_count
from tests.integration.test_writer_reconnect import command as reconnect_command, result_of, send

pytestmark = pytest.mark.integration


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB file system where the writer keeps its ledger (a tmpfs: needs root, as a real
    full disk needs nothing less to stage on one machine)."""
    where = tmp_path / "home" / "command-writer"
    if not _mount_tmpfs(where, "16m"):
        pytest.skip("cannot mount a tmpfs here (not root?): no small disk to fill")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass  # ENOSPC: full
    return filler


def command(value: float) -> events.Command:
    return reconnect_command(value, ttl=30)


def metric(settings, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{settings.web.writer_metrics_port}/metrics", timeout=5).read()
    lines = [ln for ln in text.decode().splitlines() if ln.startswith(name + " ")]
    return float(lines[0].split()[1]) if lines else 0.0


def test_a_command_the_writer_cannot_record_is_not_sent_and_the_writer_recovers(kafka, small_disk, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path / "home", only_assets("conveyor-1"))
    plant = writer_and_plc(settings, "conveyor-1")
    try:
        first = command(1.0)
        send(settings, first)
        assert wait_until(lambda: result_of(settings, first), 60, what="the first result").status == "applied"

        filler = fill(small_disk)
        # The ledger's open log file has a page with room left: it takes a few more records before
        # a write needs a block the disk does not have. Send commands until one cannot be recorded.
        applied, refused = 1, None
        for i in range(60):
            cmd = command(1.0 + (i + 1) / 100)
            send(settings, cmd)
            got = wait_until(lambda: result_of(settings, cmd), 60, what=f"the result of command {i}")
            if got.status == "not_sent":
                refused = got
                break
            assert got.status == "applied", got  # a failure to record the outcome past the PLC keeps the result
            applied += 1
        assert refused is not None, "the ledger never ran out of space"
        assert "No space left on device" in refused.detail and "not sent to the PLC" in refused.detail, refused.detail
        assert write_count(plant, "conveyor-1") == applied  # the refused command never reached the PLC
        assert plant.children["writer"].alive()
        assert metric(settings, "factory_writer_ledger_errors_total") >= 1

        filler.unlink()  # space again: the writer reopens its ledger at the next command
        later = command(1.9)
        send(settings, later)
        got = wait_until(lambda: result_of(settings, later), 60, what="the result after the disk was freed")
        assert got.status == "applied", got
        assert write_count(plant, "conveyor-1") == applied + 1
    finally:
        plant.stop()
