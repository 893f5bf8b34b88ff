"""Commands + CommandResults -> the command ledger table (what was asked, what the PLC did)."""

from __future__ import annotations

import faust

from agents.dead_letters import DeadLetterSink
from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events, metrics
from factory_app.config import PlantConfig
from factory_app.settings import Settings
from factory_app.web_views import register_command_views
from tables.command_ledger import apply_command_event
from tables.definitions import projection_table

PROCESSOR = "command-ledger"
_ACCEPT = (events.Command, events.CommandResult)


def step(ledger, event: events.Command | events.CommandResult) -> None:
    """Fold one command or result into the ledger (mapping-like); shared with replays."""
    ledger[event.command_id] = apply_command_event(ledger.get(event.command_id), event)


def register(app: faust.App, settings: Settings, commands: str, results: str, dead_letter: faust.TopicT,
             name: str = PROCESSOR) -> faust.Table:
    """Declare the ledger agent over the commands and command-results topics; return its table."""
    ledger = projection_table(app, settings, "command_ledger")
    source = app.topic(commands, results, key_serializer="raw", value_serializer="raw", internal=False,
                       partitions=settings.kafka.partitions)
    sink = DeadLetterSink(dead_letter, name)
    processed = {cls: metrics.EVENTS_PROCESSED.labels(name, cls.__name__) for cls in _ACCEPT}

    async def command_ledger(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                decoded = events.decode_keyed(event.message.key, event.value, _ACCEPT)
            except events.DecodeFailure as failure:
                if event.message.topic == results:
                    await sink.send(failure, event.message)  # the writer dead-letters bad commands itself
                continue
            step(ledger, decoded)
            processed[type(decoded)].inc()

    app.agent(source, name=name, concurrency=1)(command_ledger)
    return ledger


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    s = ctx.settings
    ledger = register(ctx.app, s, s.topic(events.COMMANDS), s.topic(events.COMMAND_RESULTS), ctx.dead_letter)
    register_command_views(ctx.app, ledger)
    return {"command_ledger": ledger}


def _step(settings: Settings, plant: PlantConfig | None, label: str) -> ReplayStep:
    def replay(tables, event, offset: int) -> list:
        step(tables["command_ledger"], event)
        return []
    return replay


SPEC = Processor(PROCESSOR, (events.COMMANDS, events.COMMAND_RESULTS), _ACCEPT, ("command_ledger",),
                 _register, _step, batched=False)
