"""``factory whatif``: what a rule change would have done over the log, before it goes live."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import click
import yaml

from factory_app.settings import Settings


def _proposed_plant(settings: Settings, proposed: str | None, sets: tuple[str, ...]):
    """The proposed plant: a whole file, and/or the current one with ``--set`` edits (validated
    as any plant file, errors naming the line)."""
    from factory_app.config import load_plant
    from factory_app.config.rule_edits import parse_set, with_rule_params

    source = Path(proposed) if proposed else settings.plant_config
    if not sets:
        return load_plant(source)
    doc = with_rule_params(yaml.safe_load(source.read_text()), [parse_set(s) for s in sets])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"proposed-{source.name}"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return load_plant(path)


def _when(ts: float | None) -> str:
    import datetime as dt

    return "-" if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _line(ex: dict) -> str:
    what = ex["value"] if ex["action"] == "write" else f"({', '.join(map(str, ex['args']))})"
    return f"{_when(ex['time'])}  {ex['rule']}  {ex['asset']}.{ex['target']} {ex['action']} {what}  (cause {ex['cause']})"


def _changes(a: dict, b: dict) -> str:
    """What differs between two descriptions of one command (the deadline relative to its cause)."""
    out = [f"{k} {a[k]} -> {b[k]}" for k in ("action", "value", "args") if a[k] != b[k]]
    if a["deadline"] != b["deadline"]:
        out.append(f"deadline +{a['deadline'] - a['time']:.3f} s -> +{b['deadline'] - b['time']:.3f} s")
    return "; ".join(out)


def _section(name: str, part: dict) -> list[str]:
    rules = ", ".join(f"{r}: {n}" for r, n in sorted(part["by_rule"].items()))
    lines = [f"  {name:<8} {part['count']:>6}" + (f"  ({rules})" if rules else "")]
    for ex in part["first"]:
        if "current" in ex or "live" in ex:
            a, b = (ex["current"], ex["proposed"]) if "current" in ex else (ex["live"], ex["recomputed"])
            lines.append(f"      {_line(a)}\n        {_changes(a, b)}")
        else:
            lines.append(f"      {_line(ex)}")
    return lines


def render(rep: dict) -> str:
    span = rep["span"]
    out = [f"folded {rep['events_folded']:,} telemetry events (up to offsets "
           f"{', '.join(f'{p}:{o}' for p, o in rep['until_offsets'].items())}); commands caused "
           f"from {_when(span['from'])} to {_when(span['to'])}",
           f"current rules: {rep['current_commands']:,} commands; proposed: {rep['proposed_commands']:,}"]
    b = rep.get("from_snapshots")
    if b:
        starts = [p["snapshot"] for p in b["partitions"].values()]
        out.append(f"from snapshots: {sum(1 for s in starts if s)} of {len(starts)} partitions started from one "
                   f"(warm-up {b['warmup_s']:.0f} s); rules started without memory there: "
                   f"{', '.join(b['warmed_rules']) or 'none'}; late events after the span not folded: "
                   f"{b['late_not_folded']}")
    out += _section("added", rep["added"])
    out += _section("removed", rep["removed"])
    out += _section("changed", rep["changed"])
    d = rep["drift"]
    if not d["compared"]:
        out.append(f"drift: not compared ({d['reason']})")
    else:
        n = d["only_live"]["count"] + d["only_recomputed"]["count"] + d["changed"]["count"]
        out.append(f"drift (the current rules live vs replayed; {d['live']:,} live, {d['recomputed']:,} recomputed "
                   f"commands compared): {'none' if n == 0 else n}")
        if n:
            out += _section("live only", d["only_live"])
            out += _section("replay only", d["only_recomputed"])
            out += _section("changed", d["changed"])
    out.append("the proposal changes what the rules command" if rep["differs"] else "no difference in commands")
    return "\n".join(out)


def _shadow_tables(settings: Settings, workers: tuple[str, ...]) -> dict:
    """Every worker's ``shadow_memory`` entries (one worker named is enough: it lists the others)."""
    from factory_app.state_client import StateUnavailable, fetch_json

    seeds = list(workers) or [f"http://{settings.web.host}:{settings.web.port}"]
    urls: set[str] = set()
    for seed in seeds:
        try:
            urls |= set(fetch_json(seed, "/cluster/")["workers"])
        except (StateUnavailable, KeyError, TypeError) as exc:
            raise click.ClickException(f"no worker answers at {seed} ({exc}); give --worker URL") from None
    merged: dict = {}
    for url in sorted(urls):
        table = fetch_json(url, "/tables/shadow_memory/")
        if isinstance(table, dict) and "error" in table:
            raise click.ClickException(f"{url} runs no shadow rules: start the workers with FACTORY_SHADOW_PLANT")
        merged.update(table)
    return merged


def render_live(rep: dict) -> str:
    if rep["since"] is None:
        return "the shadow rules have not seen an event yet"
    out = [f"shadow rules vs the active ones, per decision since {_when(rep['since'])}:"]
    for rule, outcomes in rep["by_rule"].items():
        out.append(f"  {rule:<36} " + ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items())))
    for r in rep["recent"]:
        def show(cmds):
            return "; ".join(f"{c['rule']} {c['asset_id']}.{c['target']}={c['value'] if c['action'] == 'write' else c['args']}"
                             for c in cmds) or "nothing"
        out.append(f"  {_when(r['time'])} {r['asset']}: active {show(r['active'])} | shadow {show(r['shadow'])}")
    out.append("the shadow rules decide differently" if rep["differs"] else "the shadow rules decide alike")
    return "\n".join(out)


@click.command("whatif")
@click.option("--live", is_flag=True, help="the running comparison of the workers' shadow rules (FACTORY_SHADOW_PLANT)")
@click.option("--worker", "workers", multiple=True, metavar="URL", help="with --live: a worker to ask (default the local one)")
@click.option("--proposed", type=click.Path(exists=True, dir_okay=False), default=None,
              help="a proposed plant file (default: the current one, with --set edits)")
@click.option("--set", "sets", multiple=True, metavar="RULE.PARAM=VALUE", help="change one rule parameter; repeatable")
@click.option("--from", "since", default=None, help="report commands caused from this time (ISO-8601 UTC or epoch)")
@click.option("--to", "until", default=None, help="... up to this time (exclusive)")
@click.option("--warmup", default=3600.0, show_default=True,
              help="with --from: seconds a changed rule's memory is folded before the span (from the snapshots)")
@click.option("--full", is_flag=True, help="fold from offset 0 even with --from (the reference; slow)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def command(settings: Settings, live: bool, workers: tuple[str, ...], proposed: str | None, sets: tuple[str, ...],
            since: str | None, until: str | None, warmup: float, full: bool, as_json: bool) -> None:
    """Fold the telemetry log through the current rules and the proposed ones side by side (nothing is
    sent anywhere) and report the commands that differ: added, removed, changed. Also checks the
    current rules replayed give exactly the commands they gave live (drift). Exit 1 when anything differs.

    With --live: how the shadow rule set running in the workers (FACTORY_SHADOW_PLANT) decides
    against the active rules, per rule, and its last differences.

    With --from the fold starts from the control processor's newest snapshot at or before the
    span's start minus --warmup (``factory snapshots build``) and stops past --to: the cost of
    the span, not of the log. The current rules and the unchanged proposed ones start from their
    exact state there; a changed rule starts with no memory at that snapshot, and the report
    names it ("warmed_rules"). Late events after the stop are counted, not folded.

    Example: factory whatif --set oven-1-thermostat.on_below=180 --from 2026-11-20T00:00:00
    """
    if live:
        from factory_app.replay.whatif import live_comparison

        rep = live_comparison(_shadow_tables(settings, workers))
        click.echo(json.dumps(rep, indent=2, sort_keys=True) if as_json else render_live(rep))
        sys.exit(1 if rep["differs"] else 0)
    from factory_app.cli.common import plant_or_fail
    from factory_app.replay.progress import log_progress
    from factory_app.replay.rewind import parse_time
    from factory_app.replay.whatif import drift, end_offsets, fold_both, fold_span, report

    if proposed is None and not sets:
        raise click.UsageError("give --proposed FILE and/or --set RULE.PARAM=VALUE (or --live)")
    current = plant_or_fail(settings)
    try:
        candidate = _proposed_plant(settings, proposed, sets)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    t0, t1 = (parse_time(since) if since else None), (parse_time(until) if until else None)

    async def run():
        stops = await end_offsets(settings, [settings.topic("telemetry")])
        bounded = None
        with log_progress(stops, "what-if") as advance:
            if t0 is not None and not full:
                result, bounded = await fold_span(settings, current, candidate, t0, t1, warmup, advance)
            else:
                result = await fold_both(settings, current, candidate, stops, advance)
        return {**report(settings, result, t0, t1, await drift(settings, result, t0, t1)), "from_snapshots": bounded}

    rep = asyncio.run(run())
    click.echo(json.dumps(rep, indent=2, sort_keys=True) if as_json else render(rep))
    drifted = rep["drift"]["compared"] and any(rep["drift"][k]["count"] for k in ("only_live", "only_recomputed", "changed"))
    sys.exit(1 if rep["differs"] or drifted else 0)
