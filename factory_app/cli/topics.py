"""``factory topics``: create the project's source topics with their configs."""

from __future__ import annotations

import asyncio

import click

from factory_app.settings import Settings
from factory_app.topics import create_source_topics, stamp_with_append_time


@click.command("topics")
@click.pass_obj
def command(settings: Settings) -> None:
    """Create missing source topics (telemetry, operator-actions, commands, command-results, ...),
    and stamp existing ones with the broker's append time (``message.timestamp.type``) where
    they still take the producer's."""
    created = asyncio.run(create_source_topics(settings))
    click.echo(f"created: {', '.join(created) if created else 'nothing (all exist)'}")
    stamped = stamp_with_append_time(settings)
    if stamped:
        click.echo(f"now stamped with the broker's append time (LogAppendTime): {', '.join(stamped)}")
