"""A one-hour what-if from the snapshots against the fold from offset 0, on logs of growing length.

  python -m bench.whatif_span --events 1000000 --events 10000000 [--full-up-to 1000000]

The plant: 1,000 assets of 10 tags, a thermostat rule per asset (tag0 in, tag1 out); the proposal
moves every thermostat's ``on_below``. The log: N events 10 ms of event time apart (100 events/s,
each asset reporting every 10 s, a plant that reports on change), so 1 M events span 2.8 h and
10 M span 27.8 h. For each log: produce it, build the snapshots (telemetry-state and control), then
the what-if over one hour in the log's middle: from the snapshots with warm-up 0 and with the
default warm-up (3,600 s), and from offset 0 (``--full``; only up to ``--full-up-to`` events, as
it costs the whole log). Every answer's commands in the span are checked equal to each other's.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import yaml

from bench.common import bench_settings, run_standalone
from bench.ingest import produce
from factory_app.config import load_plant
from factory_app.replay.whatif import fold_both, fold_span
from factory_app.snapshots.build import SnapshotBuilder
from factory_app.snapshots.store import SnapshotStore

T0 = 1_790_000_000.0  # bench.ingest.telemetry's first event time
SPACING = 0.01
ASSETS, TAGS = 1000, 10
SPAN = 3600.0
DEFAULT_WARMUP = 3600.0


def plant_doc(on_below: float, n_assets: int = ASSETS) -> dict:
    """The bench's plant file: every asset a thermostat's; staleness longer than a tag's period."""
    assets = [{"id": f"asset-{a:04d}", "type": "oven", "endpoint": f"opc.tcp://127.0.0.1:4840/a{a}",
               "namespace": f"urn:bench:{a}", "object": f"asset-{a:04d}",
               "read": [{"tag": f"tag{t}", "node": f"a{a}.tag{t}"} for t in range(TAGS)],
               "write": [{"tag": "tag1", "node": f"a{a}.tag1", "type": "float", "min": 0, "max": 200}]}
              for a in range(n_assets)]
    rules = [{"kind": "thermostat", "name": f"asset-{a:04d}-thermostat", "asset": f"asset-{a:04d}",
              "input": "tag0", "output": "tag1", "on_below": on_below, "off_above": 100.0, "on_value": 40.0,
              "stale_s": 600.0} for a in range(n_assets)]
    return {"assets": assets, "rules": rules}


def write_plant(path: Path, on_below: float, n_assets: int = ASSETS):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plant_doc(on_below, n_assets), sort_keys=False))
    return load_plant(path)


def in_span_commands(result, since: float, until: float) -> dict[str, list]:
    """Each rule set's commands caused in the span, comparable across folds (id and content)."""
    def key(c):
        return (c.command_id, c.target, c.action, c.value, c.deadline)
    return {name: sorted(key(c) for c in result.commands(run, since, until))
            for name, run in (("current", result.current), ("proposed", result.proposed))}


def timed(coro) -> tuple[float, object]:
    start = time.perf_counter()
    out = asyncio.run(coro)
    return time.perf_counter() - start, out


def one_log(broker, root, n: int, full_up_to: int, log) -> dict:
    settings = bench_settings(broker, root, processors=["telemetry-state", "control"])
    current = write_plant(settings.home / "plant.yaml", 40.0)
    proposed = write_plant(settings.home / "proposed.yaml", 50.0)
    settings = settings.updated({"plant_config": settings.home / "plant.yaml"})
    log(f"  producing {n:,} events ({n * SPACING / 3600:.1f} h of event time)")
    produce_s = asyncio.run(produce(settings, n, spacing=SPACING))
    log("  building snapshots")
    build_s, points = timed(SnapshotBuilder(settings, current).run_once())
    out: dict = {"events": n, "log_hours": n * SPACING / 3600, "produce_s": produce_s,
                 "snapshots": {"build_s": build_s, "points": points,
                               "bytes": SnapshotStore(settings.snapshots_dir).size_bytes()}}
    since = T0 + n * SPACING / 2 - SPAN / 2
    until = since + SPAN
    answers = {}
    for warmup in (0.0, DEFAULT_WARMUP):
        name = f"snapshots_warmup_{warmup:.0f}"
        seconds, (result, info) = timed(fold_span(settings, current, proposed, since, until, warmup))
        answers[name] = in_span_commands(result, since, until)
        out[name] = {"s": seconds, "events_folded": result.events_folded,
                     "exact_for_current_rules": info["exact_for_current_rules"],
                     "late_not_folded": info["late_not_folded"],
                     "commands": {k: len(v) for k, v in answers[name].items()}}
        log(f"  what-if over one hour from snapshots, warm-up {warmup:.0f} s: {seconds:.1f} s, "
            f"{result.events_folded:,} events folded")
    if n <= full_up_to:
        seconds, result = timed(fold_both(settings, current, proposed))
        answers["offset_0"] = in_span_commands(result, since, until)
        out["offset_0"] = {"s": seconds, "events_folded": result.events_folded,
                           "commands": {k: len(v) for k, v in answers["offset_0"].items()}}
        log(f"  what-if from offset 0: {seconds:.1f} s, {result.events_folded:,} events folded")
    reference = answers.get("offset_0", answers[f"snapshots_warmup_{DEFAULT_WARMUP:.0f}"])
    out["equal_to_reference"] = {name: a == reference for name, a in answers.items()}
    if not all(a["current"] == reference["current"] for a in answers.values()):
        raise AssertionError(f"the current rules' commands differ between folds: {out['equal_to_reference']}")
    out["span_events"] = int(SPAN / SPACING)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, action="append", help="a log length (repeatable; default 1,000,000)")
    ap.add_argument("--full-up-to", type=int, default=1_000_000,
                    help="fold from offset 0 too on logs up to this length")
    args = ap.parse_args()
    sizes = args.events or [1_000_000]
    run_standalone("whatif-span", lambda broker, root, log: run(broker, root, sizes, args.full_up_to, log))


def run(broker, root, sizes: list[int], full_up_to: int, log=print) -> dict:
    return {"span_s": SPAN, "spacing_s": SPACING, "logs": [one_log(broker, root, n, full_up_to, log) for n in sizes]}


if __name__ == "__main__":
    main()
