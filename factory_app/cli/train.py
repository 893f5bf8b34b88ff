"""``factory train``: fit a model-driven rule's model on a span of the log (the ``ml`` extra)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from factory_app.settings import Settings


@click.group("train")
def command() -> None:
    """Train the models of model-driven rules from the log (retrain on a longer span: run it again)."""


@command.command("cycle-drift")
@click.option("--asset", required=True, help="the machine (its cycle counter's readings are read)")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="the model file (JSON) to write")
@click.option("--window", default=5, show_default=True, help="cycles per mean (the rule averages as many)")
@click.option("--counter", default="cycle_counter", show_default=True)
@click.option("--state-tag", default="state", show_default=True)
@click.option("--from", "since", default=None, help="train on cycles from this time (ISO-8601 UTC or epoch)")
@click.option("--to", "until", default=None, help="... up to this time (exclusive)")
@click.option("--full", is_flag=True, help="read the partition from offset 0, not from the newest snapshot before --from")
@click.option("--seed", default=7, show_default=True)
@click.option("--quantile", default=0.999, show_default=True, help="of normal window means inside the alarm threshold")
@click.pass_obj
def cycle_drift(settings: Settings, asset: str, out: str, window: int, counter: str, state_tag: str, since: str | None,
                until: str | None, full: bool, seed: int, quantile: float) -> None:
    """Fit the cycle-drift model of ASSET; the file records what it was trained on.

    Example: factory train cycle-drift --asset press-1 --from 2026-11-01 --out models/press-1-cycle.json
    """
    try:
        from factory_app.training import cycle_drift as training
    except ImportError as exc:
        raise click.ClickException(f"training needs scikit-learn ({exc.name} missing): pip install "
                                   "'factory-control[ml]'") from None
    from factory_app.replay.progress import log_progress
    from factory_app.replay.rewind import parse_time
    from factory_app.snapshots.bounded import HistoryGone

    t0, t1 = (parse_time(since) if since else None), (parse_time(until) if until else None)

    async def read():
        span = await training.cycle_span(settings, asset, t0, t1, full)
        with log_progress(span.targets, f"reading {asset}'s partition") as advance:
            return await training.cycle_windows(settings, asset, window, counter, state_tag, t0, t1, advance, span)

    try:
        means, span = asyncio.run(read())
    except HistoryGone as exc:
        raise click.ClickException(f"{exc}; or train on a later --from") from None
    try:
        numbers = training.fit(means, seed, quantile)
    except training.TrainingError as exc:
        raise click.ClickException(str(exc)) from None
    doc = training.artifact(asset, window, counter, state_tag, seed, quantile, numbers, len(means), span)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(doc, indent=2) + "\n")
    click.echo(f"{out}: {asset} mean cycle {numbers['location']:.3f} s (variance {numbers['variance']:.3g}), "
               f"{len(means)} windows of {window} cycles from offsets {span['first_offset']}..{span['last_offset']} "
               f"of {span['topic']}[{span['partition']}]")
