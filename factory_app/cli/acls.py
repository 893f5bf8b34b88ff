"""``factory acls plan|apply``: the Kafka ACLs of the deployment's roles (factory_app/acls.py)."""

from __future__ import annotations

import click

from factory_app.settings import Settings

_USER = click.option("--user", "users", multiple=True, metavar="ROLE=NAME",
                     help="the Kafka user a role runs as (default: the role's name), e.g. --user worker=site-a-worker")


def _users(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not ROLE=NAME", param_hint="--user")
        out[role] = name
    return out


@click.group("acls")
def command() -> None:
    """Per-role Kafka ACLs: ingest, worker, writer, operator, replay (see the README's table)."""


@command.command()
@_USER
@click.pass_obj
def plan(settings: Settings, users: tuple[str, ...]) -> None:
    """Print the ACLs each role needs for this deployment's topics and groups."""
    from factory_app.acls import render, role_grants

    try:
        click.echo(render(role_grants(settings, _users(users))))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@command.command()
@_USER
@click.pass_obj
def apply(settings: Settings, users: tuple[str, ...]) -> None:
    """Create them on the cluster (run as an admin principal: FACTORY_SASL_USERNAME...)."""
    from confluent_kafka import KafkaException

    from factory_app.acls import apply as apply_grants, role_grants

    try:
        grants = role_grants(settings, _users(users))
        count = apply_grants(settings, grants)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaException as exc:
        raise click.ClickException(f"the cluster at {settings.kafka.bootstrap} refused the ACLs "
                                   f"(as {settings.kafka.sasl_username or 'ANONYMOUS'}): {exc.args[0].str()}") from None
    click.echo(f"{count} ACL entries in place for {len({g.principal for g in grants})} principals")
