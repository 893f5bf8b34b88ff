"""The secured local broker keeps its secrets (issue 29, item 7): every file holding a password is
its owner's only (0600), and no password is ever on a command line, where any local user reads it
(/proc/PID/cmdline), nor in the broker's log. Before: server.properties (the admin's SCRAM and the
controller's PLAIN passwords) was written with the default umask, and kafka-storage got every SCRAM
password as an argument."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tests.conftest import started_broker

pytestmark = pytest.mark.integration


def command_lines() -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass  # gone meanwhile
    return out


def test_no_password_on_a_command_line_in_a_log_or_in_a_file_others_may_read(tmp_path):
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:  # every process's arguments, as often as we can, while the node formats and starts
        while not done.is_set():
            seen.extend(c for c in command_lines() if "java" in c)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        broker = started_broker(tmp_path, secure=True, users=("ingest", "worker"))
    finally:
        done.set()
        watcher.join(timeout=10)
    try:
        files = broker.cfg.security_files
        passwords = {user: files.password(user) for user in files.users()}
        assert set(passwords) >= {"admin", "controller", "ingest", "worker"}
        assert any("kafka.Kafka" in c for c in seen)  # the watcher did see the node's java processes
        leaked = {u for u, pw in passwords.items() for c in seen + command_lines() if pw in c}
        assert not leaked, f"passwords of {sorted(leaked)} on a command line"
        root = broker.cfg.root
        props = root / "server.properties"
        assert any(pw in props.read_text() for pw in passwords.values())  # it does hold secrets...
        assert stat.S_IMODE(props.stat().st_mode) == 0o600  # ...so only its owner may read it
        for path in files.root.rglob("*"):
            if path.is_file() and (path.suffix in (".password", ".key") or "password" in path.name):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert not (root / "format.args").exists()
        logs = "".join(p.read_text(errors="replace") for p in root.rglob("*.log"))
        assert logs and not [u for u, pw in passwords.items() if pw in logs]
    finally:
        broker.stop(timeout=20)
