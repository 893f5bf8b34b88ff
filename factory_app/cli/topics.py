"""``factory topics``: create the project's source topics with their configs."""

from __future__ import annotations

import asyncio

import click

from factory_app.settings import Settings
from factory_app.topics import create_source_topics


@click.command("topics")
@click.pass_obj
def command(settings: Settings) -> None:
    """Create missing source topics (telemetry, commands, command-results, dead-letter)."""
    created = asyncio.run(create_source_topics(settings))
    click.echo(f"created: {', '.join(created) if created else 'nothing (all exist)'}")
