"""The ``java`` command line of a Kafka process (broker, storage tool, MirrorMaker)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from factory_app.broker.security import write_private

log = logging.getLogger(__name__)

# Logs to one file; the level of Kafka's own loggers stays INFO (the file is for people).
LOG4J2_CONFIG = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def java_command(libs: Path, main: str, *args: str, heap: str, log4j_config: Path, logs_dir: Path) -> list[str]:
    """``java`` (JAVA_HOME's when set) running ``main`` with every jar of ``libs`` on the class path."""
    java = os.environ.get("JAVA_HOME")
    java_bin = str(Path(java) / "bin" / "java") if java else "java"
    return [
        java_bin, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j_config.resolve()}", f"-Dkafka.logs.dir={logs_dir.resolve()}",
        "-cp", f"{libs.resolve()}/*", main, *args,
    ]


@contextmanager
def private_argfile(path: Path, args: list[str]) -> Iterator[Path]:
    """``args`` (a main class and its arguments) in a java @argfile only the owner may read,
    deleted afterwards: what ``java @PATH`` runs, with no argument on the command line."""
    quoted = ['"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in args]
    write_private(path, ("\n".join(quoted) + "\n").encode())
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def write_log4j_config(path: Path, log_file: Path, level: str = "INFO") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOG4J2_CONFIG.format(log_file=log_file.resolve(), level=level))
    return path


def alive(pid: int, proc: subprocess.Popen | None = None) -> bool:
    """Whether ``pid`` (``proc`` when this process started it) still runs."""
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of someone else's child still answers kill(0); look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def pid_from_file(pid_file: Path, *markers: bytes) -> int | None:
    """The pid in ``pid_file`` while that process runs and its command line holds every one of
    ``markers``; None otherwise (no file, a stale pid, a pid reused by another program, a zombie)."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return pid if all(m in cmdline for m in markers) and alive(pid) else None


def terminate(pid: int, proc: subprocess.Popen | None, what: str, timeout: float = 30.0, kill: bool = False) -> None:
    """SIGTERM ``pid`` (a clean shutdown) and wait; SIGKILL when ``kill`` or it hangs past ``timeout``."""
    try:
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid, proc):
        time.sleep(0.1)
    if alive(pid, proc):
        log.warning("%s %s ignored SIGTERM for %ss; killing it", what, pid, timeout)
        os.kill(pid, signal.SIGKILL)
        while alive(pid, proc):
            time.sleep(0.1)
