"""The benchmark suite in one command: starts a private local broker, runs every benchmark,
writes bench/results/suite.json and the results table in docs/benchmarks.md.

  python -m bench              # the full suite (about 30-40 minutes on 2 cores)
  python -m bench --smoke      # tiny sizes, one run each: keeps the suite working (CI), measures nothing

Order: ingest throughput first (its faust-1w median sets the background loads of the
loop-latency runs: idle, 10 % and 50 % of it), then capacity (assets held at 1 Hz x 10
tags), loop latency, rebuild, recovery, history (time travel from snapshots against offset 0).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench import capacity, history, ingest, loop_latency, rebuild, recovery, whatif_span
from bench.common import bench_broker, machine, write_result
from bench.report import versions, write_markdown

FULL = {"events": 100_000, "runs": 3, "loop_iterations": 300, "rebuild_events": 1_000_000, "keys": 100_000,
        "capacity_assets": [250, 500, 750, 1000, 1250, 1500], "capacity_seconds": 20,
        "history_events": [1_000_000], "history_live_events": 100_000, "whatif_events": [1_000_000]}
SMOKE = {"events": 2_000, "runs": 1, "loop_iterations": 5, "rebuild_events": 5_000, "keys": 1_000,
         "capacity_assets": [20], "capacity_seconds": 5, "history_events": [20_000], "history_live_events": 2_000,
         "whatif_events": [20_000]}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes; for CI, not for figures")
    ap.add_argument("--skip", nargs="*", default=[], choices=["ingest", "capacity", "latency", "rebuild",
                                                                        "recovery", "history", "whatif"])
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default: bench/results/suite.json)")
    args = ap.parse_args()
    size = SMOKE if args.smoke else FULL
    out: dict = {"smoke": args.smoke, "sizes": size, "versions": versions()}
    steps = [s for s in ("ingest", "capacity", "latency", "rebuild", "recovery", "history", "whatif") if s not in args.skip]
    with bench_broker() as (broker, root):
        for i, step in enumerate(steps, 1):
            log(f"({i}/{len(steps)}) {step}")
            if step == "ingest":
                out["ingest"] = ingest.run(broker, root, size["events"], size["runs"], log=log)
            elif step == "capacity":
                out["capacity"] = capacity.run(broker, root, size["capacity_assets"], size["capacity_seconds"], log=log)
            elif step == "latency":
                top = out.get("ingest", {}).get("median_events_per_s", {}).get("faust-1w", 1_000.0)
                loads = {"idle": 0.0, "10%": round(top * 0.1), "50%": round(top * 0.5)}
                out["loop_latency"] = {}
                for name, rate in loads.items():
                    log(f"  loop latency at {name} load ({rate:,.0f} events/s of background telemetry)")
                    res = loop_latency.measure(broker, root, size["loop_iterations"], rate, log=log)
                    out["loop_latency"][name] = {"background_events_per_s": rate, **res}
            elif step == "rebuild":
                out["rebuild"] = rebuild.run(broker, root, size["rebuild_events"], size["runs"], log=log)
            elif step == "recovery":
                out["recovery"] = recovery.run(broker, root, size["keys"], size["runs"], log=log)
            elif step == "history":
                out["history"] = history.run(broker, root, size["history_events"], size["history_live_events"],
                                             size["runs"], log=log)
            elif step == "whatif":
                out["whatif"] = whatif_span.run(broker, root, size["whatif_events"], max(size["whatif_events"]), log)
    if args.out is not None:
        args.out.write_text(json.dumps({"machine": machine(), **out}, indent=2))
        path = args.out
    else:
        path = write_result("suite-smoke" if args.smoke else "suite", out)
    log(f"results: {path}")
    if not args.smoke:
        md = write_markdown({"machine": machine(), **out})
        log(f"table: {md}")


if __name__ == "__main__":
    main()
