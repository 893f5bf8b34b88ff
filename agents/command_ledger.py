"""Commands + CommandResults -> the command ledger table (what was asked, what the PLC did)."""

from __future__ import annotations

import faust

from agents.dead_letters import DeadLetterSink
from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events, metrics
from factory_app.config import PlantConfig
from factory_app.settings import Settings
from factory_app.web_views import register_command_views
from tables.command_ledger import apply_command_event, apply_count, apply_period_move, count_moves, period_moves
from tables.definitions import projection_table

PROCESSOR = "command-ledger"
_ACCEPT = (events.Command, events.CommandResult)


def step(ledger, counts, periods, event: events.Command | events.CommandResult, size: float, keep: int) -> None:
    """Fold one command or result into the ledger, the per-asset status counts and the per-asset
    status counts per event-time period (``size`` seconds, the newest ``keep``); mapping-like
    tables, shared with replays."""
    before = ledger.get(event.command_id)
    after = apply_command_event(before, event)
    ledger[event.command_id] = after
    for asset, status, delta in count_moves(before, after):
        counts[asset] = apply_count(counts.get(asset), status, delta)
    for asset, start, status, delta in period_moves(before, after, size):
        periods[asset] = apply_period_move(periods.get(asset), asset, start, status, delta, size, keep)


def register(app: faust.App, settings: Settings, commands: str, results: str, dead_letter: faust.TopicT,
             name: str = PROCESSOR) -> tuple[faust.Table, faust.Table, faust.Table]:
    """Declare the ledger agent over the commands and command-results topics; return its tables
    (the ledger, the per-asset counts, the per-asset counts per period)."""
    ledger = projection_table(app, settings, "command_ledger")
    counts = projection_table(app, settings, "command_counts")
    periods = projection_table(app, settings, "command_periods")
    size, keep = settings.worker.kpi_period_seconds, settings.worker.kpi_periods
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
            step(ledger, counts, periods, decoded, size, keep)
            processed[type(decoded)].inc()

    app.agent(source, name=name, concurrency=1)(command_ledger)
    return ledger, counts, periods


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    s = ctx.settings
    ledger, counts, periods = register(ctx.app, s, s.topic(events.COMMANDS), s.topic(events.COMMAND_RESULTS), ctx.dead_letter)
    register_command_views(ctx.app, ledger, counts)
    return {"command_ledger": ledger, "command_counts": counts, "command_periods": periods}


def _step(settings: Settings, plant: PlantConfig | None, label: str) -> ReplayStep:
    size, keep = settings.worker.kpi_period_seconds, settings.worker.kpi_periods

    def replay(tables, event, offset: int) -> list:
        step(tables["command_ledger"], tables["command_counts"], tables["command_periods"], event, size, keep)
        return []
    return replay


SPEC = Processor(PROCESSOR, (events.COMMANDS, events.COMMAND_RESULTS), _ACCEPT, ("command_ledger", "command_counts", "command_periods"),
                 _register, _step, batched=False)
