"""Profile a live worker's hot path with py-spy while it folds a burst of telemetry.

  python -m bench.profile --events 50000

Starts a private broker and one worker (telemetry-state), produces the events,
samples the worker with ``py-spy record`` (collapsed stacks, native frames off)
until they are all folded, and prints the functions with the largest share of
samples, inclusive and self. The collapsed stacks go to
bench/results/profile-worker.folded (load them in speedscope or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.common import REPO, bench_broker, bench_settings
from bench.ingest import WARMUP, produce, start_faust


def summarize(folded: Path, top: int = 25) -> str:
    inclusive, own, total = Counter(), Counter(), 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    out = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        out.append(f"\n-- top {top} {title} --")
        out += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in counter.most_common(top)]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profile-worker.folded")
    args = ap.parse_args()
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when the venv is not on PATH
    py_spy = shutil.which("py-spy") or (str(beside) if beside.exists() else None)
    if py_spy is None:
        sys.exit("py-spy is not installed (pip install -e '.[bench]')")
    with bench_broker() as (broker, root):
        settings = bench_settings(broker, root, processors=["telemetry-state"])
        contender = start_faust(settings, 1)
        try:
            asyncio.run(produce(settings, WARMUP))
            pid = contender.processes[0].proc.pid
            spy = subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                                    "--output", str(args.out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            asyncio.run(produce(settings, args.events, first=WARMUP))
            from factory_app.children import wait_until
            wait_until(lambda: contender.folded() >= WARMUP + args.events, 3600, interval=0.5, what="folded")
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
            spy.wait(60)
        finally:
            contender.stop()
    print(summarize(args.out))


if __name__ == "__main__":
    main()
