"""Ids anyone may append do not grow /metrics (issue 29, item 8): a worker and the command writer
given telemetry events and commands under random, valid-looking asset and rule ids (10,000 and
2,000 with FACTORY_LONG_TESTS=1, 2,000 and 500 in the default suite), then as many again under
other ids, export the same series after the second round as after the first, every such id
counted under one ``(other)`` label (before: one series per id, 28,000 after the first long round)."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request

import pytest

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from harness.helpers import produce_raw, wait_ready
from harness.plant import Plant, make_settings, wait_plcs_ready
from tests.conftest import LONG_TESTS

pytestmark = pytest.mark.integration

N_EVENTS, N_COMMANDS = (10_000, 2_000) if LONG_TESTS else (2_000, 500)
APPENDED_IDS = re.compile(r"ghost-|phantom-|rule-[gp]\d")


def series(url: str) -> dict[str, float]:
    """Every sample of a /metrics page (the project's, Faust's and the client library's): its
    name with labels -> value."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))}


def total(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k.split("{")[0] == name)


def results_folded(samples: dict[str, float]) -> float:
    """Command results the worker's ledger has folded."""
    return sum(v for k, v in samples.items() if k.startswith("factory_events_processed_total{")
               and 'type="CommandResult"' in k)


def rss_kib(pid: int) -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


def random_ids_round(settings, tag: str) -> None:
    """Append N_EVENTS telemetry events and N_COMMANDS commands, each under an id of its own."""
    now = time.time()
    telemetry = [events.Telemetry(event_id=f"{tag}-e{i}", asset_id=f"{tag}-{i}", event_time=now,
                                  tag="temperature", value=1.0) for i in range(N_EVENTS)]
    commands = [events.Command(event_id=f"{tag}-c{i}", command_id=f"cmd-{tag}-{i}", asset_id=f"{tag}-{i}",
                               event_time=now, action="write", target="heater_power", value=1.0,
                               cause_event_id=f"{tag}-e{i}", rule=f"rule-{tag[0]}{i}", deadline=now + 60)
                for i in range(N_COMMANDS)]
    asyncio.run(produce_raw(settings, events.TELEMETRY, [(e.asset_id.encode(), events.encode(e)) for e in telemetry]))
    asyncio.run(produce_raw(settings, events.COMMANDS, [(c.asset_id.encode(), events.encode(c)) for c in commands]))


def test_random_ids_leave_the_series_bounded(kafka, tmp_path):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path)
    plant = Plant(settings, load_plant(settings.plant_config))
    worker_url = f"http://127.0.0.1:{settings.web.port}/metrics"
    writer_url = f"http://127.0.0.1:{settings.web.writer_metrics_port}/metrics"
    try:
        plant.start("sim", "worker", "writer")
        wait_plcs_ready(plant)
        wait_ready(settings, child=plant.children["worker"])
        wait_until(lambda: series(writer_url), 120, what="the writer's metrics")
        seen: dict[str, dict[str, float]] = {}
        rss: list[int] = []
        for n, tag in enumerate(("ghost", "phantom"), start=1):
            random_ids_round(settings, tag)
            # Each round: the worker has counted every event and command, the writer answered each command.
            wait_until(lambda: total(series(worker_url), "factory_events_in_total") >= n * N_EVENTS
                       and total(series(writer_url), "factory_command_results_total") >= n * N_COMMANDS
                       and results_folded(series(worker_url)) >= n * N_COMMANDS,
                       300, interval=2, what=f"round {n} counted by the worker and answered by the writer")
            seen[tag] = {"worker": series(worker_url), "writer": series(writer_url)}
            rss.append(rss_kib(plant.children["worker"].proc.pid))
        for tag, pages in seen.items():
            leaked = [s for page in pages.values() for s in page if APPENDED_IDS.search(s)]
            assert not leaked, f"{len(leaked)} series name appended ids after the {tag} round, e.g. {leaked[:3]}"
        for process in ("worker", "writer"):
            grown = sorted(set(seen["phantom"][process]) - set(seen["ghost"][process]))
            assert not grown, f"the {process} exports {len(grown)} more series after new ids: {grown[:5]}"
        assert seen["phantom"]["writer"]['factory_command_results_total{rule="(other)",status="rejected"}'] >= \
            2 * N_COMMANDS
        assert seen["phantom"]["worker"]['factory_events_in_total{asset="(other)",topic="%s"}'
                                         % settings.topic(events.TELEMETRY)] >= 2 * N_EVENTS
        print(f"series after each round: worker {[len(p['worker']) for p in seen.values()]}, writer "
              f"{[len(p['writer']) for p in seen.values()]}; worker RSS {rss[0]} -> {rss[1]} KiB")
    finally:
        plant.stop()
