"""The ``java`` command line of a Kafka process (broker, storage tool, MirrorMaker)."""

from __future__ import annotations

import os
from pathlib import Path

# Logs to one file; the level of Kafka's own loggers stays INFO (the file is for people).
LOG4J2_CONFIG = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
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


def write_log4j_config(path: Path, log_file: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOG4J2_CONFIG.format(log_file=log_file.resolve()))
    return path
