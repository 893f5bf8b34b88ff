"""Shared pieces of the benchmarks: a private broker, isolated settings, timing helpers."""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from factory_app.broker.node import LocalBroker, NodeConfig, free_port
from factory_app.broker.versions import DEFAULT_KAFKA_VERSION
from factory_app.settings import Settings
from factory_app.topics import create_source_topics

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def bench_broker(version: str = DEFAULT_KAFKA_VERSION):
    """A private broker for one benchmark run, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="factory-bench-"))
    broker = LocalBroker(NodeConfig(root=root / "kafka", version=version, port=free_port(),
                                    controller_port=free_port(), jar_home=REPO / ".factory", heap="1g",
                                    die_with_parent=True))
    broker.start(timeout=120)
    try:
        yield broker, root
    finally:
        broker.stop()


def bench_settings(broker: LocalBroker, root: Path, **overrides) -> Settings:
    tag = uuid.uuid4().hex[:6]
    settings = Settings(bootstrap=broker.cfg.bootstrap, home=root / tag, topic_prefix=f"b{tag}.",
                        app_id=f"bench-{tag}", web_port=free_port(), plant_config=REPO / "config" / "plant.yaml",
                        **overrides)
    asyncio.run(create_source_topics(settings))
    return settings


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values),
            "mean": statistics.fmean(values)}


def machine() -> dict:
    import os
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def log_stderr(message: str) -> None:
    """Progress lines of a standalone benchmark (stdout keeps the result)."""
    print(message, file=sys.stderr, flush=True)


def run_standalone(name: str, measure) -> dict:
    """Run ``measure(broker, root, log)`` on a private broker; print its result and save it as NAME.json."""
    with bench_broker() as (broker, root):
        result = measure(broker, root, log_stderr)
    print(result)
    write_result(name, result)
    return result


def write_result(name: str, result: dict) -> Path:
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2))
    return path
