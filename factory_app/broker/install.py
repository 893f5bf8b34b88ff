"""Resolve the broker's jars: from KAFKA_HOME, or fetched with Maven into the project folder."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

POM = Path(__file__).resolve().parents[2] / "broker" / "pom.xml"


class BrokerInstallError(RuntimeError):
    """The broker's jars could not be found or fetched."""


def libs_dir(home: Path, version: str) -> Path:
    """Directory holding the jars of ``version`` (``KAFKA_HOME/libs`` when that is set)."""
    kafka_home = os.environ.get("KAFKA_HOME")
    if kafka_home:
        return Path(kafka_home) / "libs"
    return home / f"kafka-{version}" / "libs"


def ensure_jars(home: Path, version: str) -> Path:
    """Return the jar directory for ``version``, fetching it with Maven if it is missing."""
    libs = libs_dir(home, version)
    if _has_kafka(libs):
        return libs
    if os.environ.get("KAFKA_HOME"):
        raise BrokerInstallError(f"KAFKA_HOME is set but {libs} holds no Kafka jars")
    log.info("fetching Apache Kafka %s jars from Maven Central into %s", version, libs)
    return fetch_with_maven(POM, {"kafka.version": version}, libs, f"Kafka {version}", _has_kafka)


def _has_kafka(libs: Path) -> bool:
    return any(libs.glob("kafka_2.13-*.jar")) or any(libs.glob("kafka-server-*.jar"))


def fetch_with_maven(pom: Path, properties: dict[str, str], libs: Path, what: str,
                     present: Callable[[Path], bool]) -> Path:
    """Copy the dependencies of ``pom`` (with ``properties``) into ``libs``; return ``libs``.

    The download lands in a temporary folder and is renamed into place only when
    Maven succeeded, so an interrupted fetch never leaves a half-filled libs dir.
    One fetch of a folder at a time (a lock file beside it): processes started together on
    a fresh machine (the test suite's workers, two ``factory`` commands) would otherwise
    empty each other's staging folder; the one that waited uses the jars ``present`` finds.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerInstallError(f"Maven (mvn) is needed to fetch the {what} jars; install it or set KAFKA_HOME")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / "fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if present(libs):
            return libs
        staging = libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
               *(f"-D{k}={v}" for k, v in properties.items()), f"-DoutputDirectory={staging.resolve()}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerInstallError(
                f"mvn failed for {what} (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        shutil.rmtree(libs, ignore_errors=True)  # an older fetch that lacks a newer dependency
        staging.rename(libs)
        return libs
