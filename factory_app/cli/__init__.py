"""The ``factory`` command: one click group, one module per subcommand."""

from __future__ import annotations

import click

from factory_app.settings import Settings


@click.group()
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="FACTORY_LOG_FORMAT", help="json: one object per line, with asset_id / command_id fields")
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str) -> None:
    """Event-sourced plant control on Kafka and Faust.

    Settings come from FACTORY_* environment variables (see README).
    """
    from factory_app.logs import configure_logging

    configure_logging(log_level, log_format)
    ctx.obj = Settings()


def _register() -> None:
    from factory_app.cli import (adapter, backfill, broker, certs, rebuild, rewind, run, sample, sim, state, state_at,
                                 topics, verify, worker)

    for module in (adapter, backfill, broker, certs, rebuild, rewind, run, sample, sim, state, state_at, topics, verify,
                   worker):
        main.add_command(module.command)


_register()
