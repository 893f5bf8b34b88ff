"""The suite's Markdown table in docs/benchmarks.md (between markers, so the prose around it stays)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from factory_app.broker.versions import DEFAULT_KAFKA_VERSION

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"
PACKAGES = ("faust-streaming", "aiokafka", "quixstreams", "confluent-kafka", "asyncua", "rocksdict", "msgspec")


def versions() -> dict[str, str]:
    out = {"kafka": DEFAULT_KAFKA_VERSION}
    for p in PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


def _n(x: float) -> str:
    return f"{x:,.0f}"


def tables(result: dict) -> str:
    m, v = result["machine"], result["versions"]
    lines = [f"Run of {m['date']} on {m['cpus']} cores ({m['platform']}), Python {m['python']}; "
             + ", ".join(f"{k} {val}" for k, val in v.items()) + ".", ""]
    if "ingest" in result:
        ing = result["ingest"]
        med, ratios = ing["median_events_per_s"], ing["median_ratios"]
        lines += [f"### Stateful ingest ({_n(ing['events'])} events after a {_n(ing['warmup'])}-event warm-up, "
                  f"median of {len(ing['runs'])} runs)", "",
                  "| contender | events/s (median) | runs |", "|---|---|---|"]
        for k, val in med.items():
            lines.append(f"| {k} | {_n(val)} | {', '.join(_n(r[k]) for r in ing['runs'])} |")
        lines += ["", "| ratio (within each run, median) | value |", "|---|---|"]
        lines += [f"| {k} | {val:.3f} |" for k, val in ratios.items()]
        lines.append("")
    if "loop_latency" in result:
        lines += ["### Control-loop latency (ms, source timestamp -> write confirmed)", "",
                  "| load | background ev/s | loops | total p50 | p99 | max | adapter p50/p99 | agent p50/p99 | "
                  "writer p50/p99 |", "|---|---|---|---|---|---|---|---|---|"]
        for name, r in result["loop_latency"].items():
            t = r["total"]
            st = " | ".join(f"{r[s]['p50']:.1f} / {r[s]['p99']:.1f}" for s in ("adapter", "agent", "writer"))
            lines.append(f"| {name} | {_n(r['background_events_per_s'])} | {r['iterations']} | {t['p50']:.1f} | "
                         f"{t['p99']:.1f} | {t['max']:.1f} | {st} |")
        lines.append("")
    if "capacity" in result:
        cap = result["capacity"]
        lines += [f"### Capacity (assets x {cap['tags_per_asset']} tags at 1 Hz held with state freshness p99 < "
                  f"{cap['hold_p99_s']:g} s, {cap['seconds_per_size']:g} s per size)", "",
                  "| contender | assets held | per size: assets, achieved ev/s, freshness p50 / p99 (s) |",
                  "|---|---|---|"]
        for which, c in cap["contenders"].items():
            steps = "; ".join(f"{st['assets']}: {_n(st['achieved_events_per_s'])} ev/s, "
                              + (f"{st['p50_s']:.2f} / {st['p99_s']:.2f}" if "p99_s" in st else "no probe seen")
                              for st in c["steps"])
            lines.append(f"| {which} | **{_n(c['assets_held'])}** | {steps} |")
        lines.append("")
    if "rebuild" in result:
        rb = result["rebuild"]
        lines += ["### Rebuild", "",
                  f"`factory rebuild asset_state tag_windows` over {_n(rb['events'])} events: "
                  f"median {_n(rb['median_rebuild_events_per_s'])} events/s "
                  f"(runs: {', '.join(_n(x) for x in rb['rebuild_events_per_s'])}); producing them: "
                  f"{_n(rb['produce_events_per_s'])} events/s.", ""]
    if "recovery" in result:
        rc = result["recovery"]
        s = rc["seconds"]
        lines += ["### Recovery and memory", "",
                  f"{_n(rc['keys'])} assets ({_n(rc['keys_restored'])} table keys). Median of "
                  f"{len(rc['runs']['local'])} restarts:", "",
                  "| start | seconds |", "|---|---|",
                  f"| empty worker | {s['empty_start']:.1f} |",
                  f"| restart with local RocksDB state | {s['resume_with_local_state']:.1f} |",
                  f"| restart after losing local state (changelog restore) | "
                  f"{s['resume_after_changelog_restore']:.1f} |", "",
                  f"Restore / local (median within runs): {rc['median_ratio_restore/local']:.1f}. "
                  f"Worker peak RSS holding the keys: {rc['worker_peak_rss_mb']:.0f} MiB.", ""]
    return "\n".join(lines)


def write_markdown(result: dict, doc: Path = DOC) -> Path:
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n## Latest suite run (`python -m bench`)\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{tables(result)}\n{END}{tail}")
    return doc
