"""``factory fleet``: every site's assets and indicators, from the central workers."""

from __future__ import annotations

import json
import sys

import click

from factory_app.cli.common import DEFAULT_SITES_FILE


@click.command("fleet")
@click.option("--sites", "sites_file", envvar="FACTORY_SITES", default=DEFAULT_SITES_FILE, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def command(sites_file: str, as_json: bool) -> None:
    """Assets of every site (site, asset, type, state) and availability / OEE per machine type,
    per site and across sites ("*"), as the central workers (`factory worker --site`) hold them.
    Exit 1 when a site's central worker does not answer."""
    from rich.console import Console
    from rich.table import Table

    from factory_app.config import ConfigError
    from factory_app.mirror.fleet import KPIS, read_fleet
    from factory_app.mirror.sites import load_sites

    try:
        fleet = read_fleet(load_sites(sites_file))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
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
    for site, why in fleet["unreachable"].items():
        click.echo(f"{site}: {why}", err=True)
    if fleet["unreachable"]:
        sys.exit(1)
