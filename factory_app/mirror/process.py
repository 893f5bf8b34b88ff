"""Run MirrorMaker 2 (dedicated mode) as a child ``java`` process: start, stop, kill, pid.

Its files live under ``HOME/mirror``: ``mm2.properties`` (rendered from the sites file on
every start), ``mirror.pid``, ``logs/mirror.log``. It keeps no state of its own on disk:
where it is in each site's log is in MirrorMaker's topics on the central cluster, so a
restarted or replaced mirror resumes where the last one committed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from factory_app.broker.install import BrokerInstallError, fetch_with_maven
from factory_app.broker.java import java_command, pid_from_file, terminate, write_log4j_config
from factory_app.lifecycle import die_with_parent
from factory_app.mirror.mm2_config import CENTRAL, mm2_properties, secured_aliases
from factory_app.mirror.sites import SitesConfig
from factory_app.mirror.versions import MIRROR_VERSION

log = logging.getLogger(__name__)

POM = Path(__file__).resolve().parents[2] / "broker" / "mirror-pom.xml"
MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"


def ensure_mirror_jars(jar_home: Path, version: str = MIRROR_VERSION) -> Path:
    """The jar folder of MirrorMaker ``version``, fetched with Maven when missing."""
    libs = jar_home / f"mirror-{version}" / "libs"
    if _has_mirror(libs):
        return libs
    log.info("fetching Apache Kafka MirrorMaker 2 (connect-mirror %s) from Maven Central into %s", version, libs)
    return fetch_with_maven(POM, {"mirror.version": version}, libs, f"connect-mirror {version}", _has_mirror)


def _has_mirror(libs: Path) -> bool:
    return any(libs.glob("connect-mirror-*.jar")) and any(libs.glob("kafka-tools-*.jar"))


@dataclass(frozen=True)
class MirrorFiles:
    root: Path

    @property
    def properties(self) -> Path:
        return self.root / "mm2.properties"

    @property
    def pid_file(self) -> Path:
        return self.root / "mirror.pid"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "mirror.log"


class MirrorMaker:
    """One dedicated MirrorMaker 2 process pulling every site of a sites file into central."""

    def __init__(self, config: SitesConfig, root: Path, jar_home: Path, *, heap: str = "512m",
                 die_with_parent: bool = False, replication: int = 1):
        self.config = config
        self.files = MirrorFiles(root)
        self.jar_home = jar_home
        self.heap = heap
        self.die_with_parent = die_with_parent
        self.replication = replication
        self._proc: subprocess.Popen | None = None

    def pid(self) -> int | None:
        """PID of the running mirror, or None (a stale pid file is ignored)."""
        return pid_from_file(self.files.pid_file, MAIN.encode())

    def start(self) -> int:
        """Start the mirror (fetching its jars first if needed); returns its pid. Does not wait
        for the sites or the centre: MirrorMaker keeps retrying them by itself."""
        running = self.pid()
        if running is not None:
            return running
        libs = ensure_mirror_jars(self.jar_home)
        self.files.root.mkdir(parents=True, exist_ok=True)
        write_secrets(self.config, self.files.secrets)
        self.files.properties.write_text(mm2_properties(self.config, replication=self.replication,
                                                        secrets_dir=self.files.secrets))
        log4j = write_log4j_config(self.files.root / "log4j2.properties", self.files.log_file)
        out = open(self.files.root / "logs" / "stdout.log", "ab")
        cmd = java_command(libs, MAIN, str(self.files.properties), "--clusters", CENTRAL, heap=self.heap,
                           log4j_config=log4j, logs_dir=self.files.log_file.parent)
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True,
                                      # SIGKILL, not SIGTERM: with its clusters gone, MirrorMaker's graceful
                                      # shutdown was seen hanging for minutes, an orphan a new supervisor
                                      # would take for a running mirror. A killed mirror is the at-least-once
                                      # case the central folds handle.
                                      preexec_fn=die_with_parent(signal.SIGKILL) if self.die_with_parent else None)
        self.files.pid_file.write_text(str(self._proc.pid))
        return self._proc.pid

    def stop(self, timeout: float = 30.0, kill: bool = False) -> bool:
        """Stop the mirror (SIGTERM: it commits its offsets; SIGKILL when ``kill`` or it hangs)."""
        pid = self._proc.pid if self._proc is not None else self.pid()
        if pid is None:
            self.files.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, self._proc, "MirrorMaker", timeout, kill)
        self.files.pid_file.unlink(missing_ok=True)
        self._proc = None
        return True


def write_secrets(config: SitesConfig, secrets: Path) -> None:
    """Each SASL cluster's password, read from its password file, into ``secrets/ALIAS`` (only
    the owner may read either) for MirrorMaker's DirectoryConfigProvider: the password
    without the line end a file usually has, and the properties file without any secret."""
    secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
    for alias, sec in secured_aliases(config).items():
        try:
            password = sec.sasl_password_file.read_text().strip()
        except OSError as exc:
            raise MirrorConfigError(f"cannot read the SASL password file of {alias} "
                                    f"({sec.sasl_password_file}): {exc.strerror}") from None
        path = secrets / alias
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password)


class MirrorConfigError(ValueError):
    """The sites file names something the mirror cannot use."""


__all__ = ["MirrorConfigError", "BrokerInstallError", "MirrorMaker", "ensure_mirror_jars"]
