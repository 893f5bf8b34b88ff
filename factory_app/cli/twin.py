"""``factory twin calibrate``: the simulator's machines fitted to the log (a twin of the recorded line)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
import yaml

from factory_app.settings import Settings


@click.group("twin")
def command() -> None:
    """A twin from execution history: simulated PLCs that behave as the recorded machines did."""


@command.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="the twin's plant file to write")
@click.option("--from", "since", default=None, help="calibrate on history from this time (ISO-8601 UTC or epoch)")
@click.option("--to", "until", default=None, help="... up to this time (exclusive)")
@click.option("--full", is_flag=True, help="read the log from offset 0, not from the newest snapshot before --from")
@click.option("--speed", default=1.0, show_default=True, help="the twin's pace: N recorded seconds per second")
@click.option("--json", "as_json", is_flag=True, help="print the per-asset report as JSON")
@click.pass_obj
def calibrate(settings: Settings, out: str, since: str | None, until: str | None, full: bool, speed: float,
              as_json: bool) -> None:
    """Fit each oven's heating and each press's cycle time to the recorded telemetry and write a copy of the
    plant file with them (sim.models, sim.calibration). Then try rules in closed loop against it:
    FACTORY_PLANT_CONFIG=OUT factory run (or factory sim).

    Example: factory twin calibrate --from 2026-11-20 --to 2026-11-27 --out config/plant-twin.yaml
    """
    try:
        from factory_app.training import twin
        from factory_app.training.cycle_drift import code_version
    except ImportError as exc:
        raise click.ClickException(f"calibration needs numpy ({exc.name} missing): pip install 'factory-control[ml]'")
    from factory_app.cli.common import plant_or_fail
    from factory_app.replay.progress import log_progress
    from factory_app.replay.rewind import parse_time
    from factory_app.snapshots.bounded import HistoryGone
    from factory_app.snapshots.span import plan_span

    plant = plant_or_fail(settings)
    t0, t1 = (parse_time(since) if since else None), (parse_time(until) if until else None)

    async def read():
        span = await plan_span(settings, t0, t1, full=full)
        with log_progress(span.targets, "reading the recorded line") as advance:
            return await twin.recorded(settings, plant, t0, t1, advance, span)

    try:
        series, span = asyncio.run(read())
    except HistoryGone as exc:
        raise click.ClickException(f"{exc}; or calibrate on a later --from") from None
    models, report = twin.calibrate(plant, series)
    if not models:
        raise click.ClickException("nothing could be calibrated: " + "; ".join(
            f"{a}: {r['why']}" for a, r in report.items()))
    doc = yaml.safe_load(settings.plant_config.read_text())
    doc.setdefault("sim", {})
    doc["sim"].update(speed=speed, models=models,
                      calibration={"from_log": span, "code_version": code_version(), "report": report})
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False))
    if as_json:
        click.echo(json.dumps({"models": models, "report": report}, indent=2, sort_keys=True))
        return
    for asset, r in report.items():
        if r["calibrated"]:
            params = ", ".join(f"{k} {v:.4g}" for k, v in models[asset].items())
            extra = f"; replayed on the recorded heater powers: {r['fit_rms_c']:.2f} degC RMS" if "fit_rms_c" in r else ""
            click.echo(f"{asset}: {params}{extra}")
        else:
            click.echo(f"{asset}: not calibrated ({r['why']})")
    click.echo(f"wrote {out} (sim.speed {speed})")
