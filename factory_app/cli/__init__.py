"""The ``factory`` command: one click group, one module per subcommand."""

from __future__ import annotations

import logging

import click

from factory_app.settings import Settings


@click.group()
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """Event-sourced plant control on Kafka and Faust.

    Settings come from FACTORY_* environment variables (see README).
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level != "debug":
        logging.getLogger("aiokafka").setLevel(logging.WARNING)  # it logs every (re)subscription at INFO
    ctx.obj = Settings()


def _register() -> None:
    from factory_app.cli import (adapter, backfill, broker, certs, rebuild, rewind, run, sample, sim, state, state_at,
                                 topics, verify, worker)

    for module in (adapter, backfill, broker, certs, rebuild, rewind, run, sample, sim, state, state_at, topics, verify,
                   worker):
        main.add_command(module.command)


_register()
