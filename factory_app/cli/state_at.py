"""``factory state-at``: asset state as it was at a past instant, from the log alone."""

from __future__ import annotations

import asyncio
import json

import click

from factory_app.cli.common import site_option
from factory_app.settings import Settings


@click.command("state-at")
@click.argument("asset", required=False)
@click.option("--time", "at", default=None, help="ISO-8601 time (UTC if no zone) or epoch seconds")
@click.option("--until-offset", multiple=True, help="PARTITION:OFFSET (exclusive); repeatable")
@click.option("--json", "as_json", is_flag=True)
@click.option("--full", is_flag=True, help="ignore the snapshots: fold from offset 0 (the reference, and slow)")
@click.option("--explain", is_flag=True, help="say on stderr what was read per partition (snapshot, tail, late)")
@site_option
@click.pass_obj
def command(settings: Settings, asset: str | None, at: str | None, until_offset: tuple[str, ...], as_json: bool,
            full: bool, explain: bool) -> None:
    """Fold the telemetry log up to a time (event time) and/or offsets; the live tables are not touched.

    Each partition starts from its newest snapshot at or before the time (``factory snapshots
    build``) and reads on to where the broker's time index passes it plus FACTORY_HISTORY_LATENESS,
    plus the late events the snapshots list: the same answer as a fold from offset 0.

    Examples: factory state-at oven-1 --time 2026-11-26T08:00:00; factory state-at --until-offset 0:1200
    """
    from rich.console import Console

    from factory_app.render import state_table
    from factory_app.replay.rewind import parse_time
    from factory_app.replay.state_at import Reads, partition_stops, state_at

    if at is None and not until_offset:
        raise click.UsageError("give --time and/or --until-offset")
    ts = parse_time(at) if at else None
    from factory_app.snapshots.bounded import HistoryGone

    reads = Reads()
    try:
        states = asyncio.run(state_at(settings, ts, partition_stops(list(until_offset)) or None, asset, reads=reads,
                                      full=full))
    except HistoryGone as exc:
        raise click.ClickException(str(exc)) from None
    if explain:
        for part, r in sorted(reads.partitions.items()):
            snap = r["snapshot"]
            click.echo(f"p{part}: {'from offset 0' if snap is None else 'snapshot at telemetry offset ' + str(snap['telemetry'])}"
                       f", {r['from_snapshot']} records on, {r['late']} late ones by offset, {r['uncovered']} past the "
                       f"newest snapshot", err=True)
        click.echo(f"read {reads.read} records", err=True)
    if as_json:
        click.echo(json.dumps(states, indent=2, sort_keys=True))
    else:
        Console().print(state_table(states, title=f"State at {at or ''} {' '.join(until_offset)}".strip()))
