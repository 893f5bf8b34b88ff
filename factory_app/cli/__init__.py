"""The ``factory`` command: one click group, one module per subcommand."""

from __future__ import annotations

import click

from factory_app.settings import Settings


class FactoryGroup(click.Group):
    """Every failure of a subcommand ends as one clear line and a non-zero exit, not a traceback.

    The traceback still goes to the log at debug level (``--log-level debug``).
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            import logging

            logging.getLogger("factory").debug("command failed", exc_info=True)
            raise click.ClickException(explain(exc, ctx.obj)) from None


def explain(exc: Exception, settings: Settings | None) -> str:
    """One line: what went wrong, where, and what to do."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    from factory_app.kafka_security import KafkaAccessError

    bootstrap = settings.kafka.bootstrap if settings is not None else "?"
    if isinstance(exc, KafkaAccessError):
        return str(exc)
    if isinstance(exc, KafkaConnectionError) or (isinstance(exc, KafkaError) and "connect" in str(exc).lower()):
        return (f"cannot reach Kafka at {bootstrap} ({exc}); start the local broker with `factory broker start` "
                f"or point FACTORY_BOOTSTRAP at a running cluster")
    if isinstance(exc, KafkaError):
        return f"Kafka at {bootstrap} refused: {exc!r}"
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (run with --log-level debug for the traceback)"


@click.group(cls=FactoryGroup)
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
    from factory_app.cli import (acls, adapter, backfill, broker, certs, command, fleet, mirror, mode, rebuild, rewind, run, sample,
                                 sim, snapshots, state, state_at, topics, train, twin, ui, verify, whatif, worker)

    for module in (acls, adapter, backfill, broker, certs, command, fleet, mirror, mode, rebuild, rewind, run, sample, sim, snapshots, state, state_at,
                   topics, train, twin, ui, verify, whatif, worker):
        main.add_command(module.command)
    main.add_command(ui.token_command)


_register()
