"""``pid_from_file``: the one check behind the broker's, the mirror's and its supervisor's pid files."""

import os
import subprocess
import sys

from factory_app.broker.java import pid_from_file


def test_a_running_process_with_its_markers(tmp_path):
    pid_file = tmp_path / "x.pid"
    pid_file.write_text(str(os.getpid()))
    assert pid_from_file(pid_file, b"python") == os.getpid()
    assert pid_from_file(pid_file, b"python", b"no-such-marker") is None  # a pid reused by another program


def test_no_file_garbage_and_a_stale_or_zombie_pid(tmp_path):
    pid_file = tmp_path / "x.pid"
    assert pid_from_file(pid_file) is None
    pid_file.write_text("not a pid")
    assert pid_from_file(pid_file) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pid_file.write_text(str(child.pid))
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
        assert pid_from_file(pid_file, b"python") is None
    finally:
        child.wait()
    assert pid_from_file(pid_file, b"python") is None  # reaped: gone
