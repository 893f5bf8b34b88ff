"""``factory state [ASSET]``: current asset state, read from a running worker."""

from __future__ import annotations

import json

import click

from factory_app.render import state_table
from factory_app.cli.common import site_option
from factory_app.settings import Settings
from factory_app.state_client import StateUnavailable, fetch_state


@click.command("state")
@click.argument("asset", required=False)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.option("--url", default=None, help="worker URL (default http://FACTORY_WEB_HOST:FACTORY_WEB_PORT)")
@site_option
@click.pass_obj
def command(settings: Settings, asset: str | None, as_json: bool, url: str | None) -> None:
    """Print the state of ASSET, or of every asset the worker holds."""
    from rich.console import Console

    base = url or f"http://{settings.web.host}:{settings.web.port}"
    try:
        data = fetch_state(base, asset)
    except StateUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if data is None:
        raise click.ClickException(f"unknown asset {asset!r}")
    states = {asset: data} if asset else data
    if as_json:
        click.echo(json.dumps(states, indent=2, sort_keys=True))
    else:
        Console().print(state_table(states))
