"""The replays' progress display: a bar per partition when a read is split by partition."""

from __future__ import annotations

import io

from aiokafka import TopicPartition
from rich.console import Console

from factory_app.replay.progress import log_progress


def shown(per_partition: bool) -> str:
    buf = io.StringIO()
    stops = {TopicPartition("tel", 0): 10, TopicPartition("tel", 1): 20, TopicPartition("ops", 1): 0}
    with log_progress(stops, "fold", Console(file=buf, width=150, force_terminal=False),
                      per_partition=per_partition) as advance:
        advance(TopicPartition("tel", 1), 20)
        advance(TopicPartition("tel", 0), 4)
    return buf.getvalue()


def test_a_split_read_shows_each_partitions_progress():
    lines = {line.split()[0] + " " + line.split()[1]: line for line in shown(True).splitlines() if "[" in line}
    assert set(lines) == {"[0] tel", "[1] tel"}  # an empty partition gets no bar
    assert "4/10" in lines["[0] tel"] and "20/20" in lines["[1] tel"]
    assert "24/30" in shown(True).splitlines()[0]


def test_a_whole_read_shows_topics_only():
    assert "[0]" not in shown(False) and "24/30" in shown(False)
