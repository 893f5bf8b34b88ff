"""Fetching jars with Maven: one fetch of a folder at a time, however many processes ask at once.

The suite's parallel workers (and two ``factory`` commands started together) find the jars
missing on a fresh clone at the same moment; each used to empty the other's staging folder.
Maven is a stand-in script here (a unit test: no network); it records each run.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from factory_app.broker.install import fetch_with_maven

FAKE_MVN = """#!/bin/sh
# Records the run, then fills -DoutputDirectory slowly, as a download does.
echo run >> "$RUNS"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
done
mkdir -p "$out"
sleep 0.5
touch "$out/kafka-server-9.9.jar"
"""


def present(libs: Path) -> bool:
    return any(libs.glob("kafka-server-*.jar"))


def test_fetches_started_together_run_maven_once_and_all_get_the_jars(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN)
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    runs = tmp_path / "runs"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RUNS", str(runs))
    libs = tmp_path / "jars" / "kafka-9.9" / "libs"
    results, errors = [], []

    def fetch() -> None:
        try:
            results.append(fetch_with_maven(tmp_path / "pom.xml", {}, libs, "Kafka 9.9", present))
        except Exception as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results == [libs] * 3 and present(libs)
    assert runs.read_text().splitlines() == ["run"]  # the others waited and used its jars
    assert not libs.with_name("libs.partial").exists()
