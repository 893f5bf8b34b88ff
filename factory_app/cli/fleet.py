"""``factory fleet``: every site's assets and indicators, from the central workers."""

from __future__ import annotations

import json
import sys

import click

from factory_app.cli.common import DEFAULT_SITES_FILE


@click.command("fleet")
@click.option("--sites", "sites_file", envvar="FACTORY_SITES", default=DEFAULT_SITES_FILE, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON (every retained period)")
@click.option("--periods", default=3, show_default=True, type=click.IntRange(min=1),
              help="how many of the newest event-time periods to show per site and type")
@click.option("--serve", is_flag=True, help="serve the fleet page in the browser instead (until Ctrl-C)")
@click.option("--port", envvar="FACTORY_FLEET_PORT", default=6095, show_default=True, help="the fleet page's port")
@click.option("--host", envvar="FACTORY_FLEET_HOST", default="127.0.0.1", show_default=True)
@click.option("--refresh", default=5.0, show_default=True, type=click.FloatRange(min=0.5),
              help="seconds between two readings of the central workers (the page)")
def command(sites_file: str, as_json: bool, periods: int, serve: bool, port: int, host: str, refresh: float) -> None:
    """Assets of every site (site, asset, type, state); availability / OEE per machine type, per
    site and across sites ("*"), since first seen and per event-time period (FACTORY_KPI_PERIOD_SECONDS,
    an hour by default), with the commands issued in each period by outcome; as the central
    workers (`factory worker --site`) hold them. Exit 1 when a site's central worker does not answer."""
    from rich.console import Console
    from rich.table import Table

    from factory_app.config import ConfigError
    from factory_app.mirror.fleet import KPIS, read_fleet
    from factory_app.mirror.sites import load_sites

    try:
        config = load_sites(sites_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if serve:
        from aiohttp import web

        from factory_app.ui.fleet_page import build_fleet_app

        click.echo(f"fleet page: http://{host}:{port}/fleet (the central workers read every {refresh:g} s)")
        web.run_app(build_fleet_app(config, refresh), host=host, port=port, print=None)
        return
    fleet = read_fleet(config)
    if as_json:
        click.echo(json.dumps(fleet, indent=2, sort_keys=True))
    else:
        assets = Table(title="Fleet")
        for col in ("site", "asset", "type", "machine", "connection"):
            assets.add_column(col)
        for row in fleet["assets"]:
            assets.add_row(*(str(row[c] if row[c] is not None else "-") for c in ("site", "asset", "type", "machine",
                                                                                  "connection")))
        kpis = Table(title="Indicators per machine type (* = all sites)")
        for col in ("site", "type", "assets", *KPIS):
            kpis.add_column(col)
        for site, kinds in fleet["indicators"].items():
            for kind, values in kinds.items():
                kpis.add_row(site, kind, str(values["assets"]),
                             *("-" if values[k] is None else f"{values[k]:.3f}" for k in KPIS))
        Console().print(assets)
        Console().print(kpis)
        Console().print(_periods_table(fleet["periods"], periods))
    for site, why in fleet["unreachable"].items():
        click.echo(f"{site}: {why}", err=True)
    if fleet["unreachable"]:
        sys.exit(1)


def _periods_table(rows: list[dict], newest: int):
    from datetime import datetime, timezone

    from rich.table import Table

    from factory_app.mirror.fleet import KPIS

    table = Table(title=f"Per period, the newest {newest} (event time, UTC; * = all sites)")
    for col in ("site", "type", "period", "assets", *KPIS, "commands"):
        table.add_column(col)
    shown: dict[tuple[str, str], int] = {}
    for row in reversed(rows):  # newest first within each (site, type)
        group = (row["site"], row["type"])
        shown[group] = shown.get(group, 0) + 1
        if shown[group] > newest:
            continue
        start = datetime.fromtimestamp(row["start"], timezone.utc).strftime("%Y-%m-%d %H:%M")
        outcomes = " ".join(f"{status}={n}" for status, n in row["commands"].items()) or "-"
        table.add_row(row["site"], row["type"], start, str(row["assets"]),
                      *("-" if row[k] is None else f"{row[k]:.3f}" for k in KPIS), outcomes)
    return table
