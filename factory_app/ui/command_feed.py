"""The newest commands and their results, followed on the log itself.

Commands are few (a plant's rules act every few seconds), so the plant view reads both
topics from a little before their end and folds them with the ledger's own fold
(``tables.command_ledger``): a command appears the moment it is appended, and its result the
moment the writer appends it, without asking a worker. Only the newest ``keep`` commands are
held; totals per asset come from the workers' ``command_counts`` table.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable

from factory_app import events
from factory_app.kafka_clients import consumer_of, partitions_of
from factory_app.settings import Settings
from tables import values
from tables.command_ledger import apply_command_event

log = logging.getLogger(__name__)
_ACCEPT = (events.Command, events.CommandResult)


class CommandFeed:
    def __init__(self, settings: Settings, keep: int = 1000, backlog: int = 200):
        self.settings, self.keep, self.backlog = settings, keep, backlog
        self.entries: OrderedDict[str, dict] = OrderedDict()  # command id -> ledger entry, oldest first

    def fold(self, event: events.Command | events.CommandResult) -> dict:
        """Fold one event; returns the entry as the views show it."""
        entry = apply_command_event(self.entries.pop(event.command_id, None), event)
        self.entries[event.command_id] = entry
        while len(self.entries) > self.keep:
            self.entries.popitem(last=False)
        return values.public("command_ledger", entry)

    def recent(self, n: int = 200, asset: str | None = None, rule: str | None = None,
               status: str | None = None) -> list[dict]:
        """Newest first (by issue time; a result whose command is older than the backlog last)."""
        picked = [e for e in self.entries.values()
                  if (asset is None or e.get("asset_id") == asset) and (rule is None or e.get("rule") == rule)
                  and (status is None or e.get("status") == status)]
        picked.sort(key=lambda e: (e.get("issued_at") or 0.0, e["command_id"]), reverse=True)
        return [values.public("command_ledger", e) for e in picked[:n]]

    def get(self, command_id: str) -> dict | None:
        entry = self.entries.get(command_id)
        return values.public("command_ledger", entry) if entry else None

    async def run(self, on_change: Callable[[dict], None], started: asyncio.Event | None = None) -> None:
        """Follow both topics from ``backlog`` records before their end, for as long as it runs."""
        topics = [self.settings.topic(events.COMMANDS), self.settings.topic(events.COMMAND_RESULTS)]
        async with consumer_of(self.settings.kafka) as consumer:
            tps = [tp for t in topics for tp in await partitions_of(consumer, t)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            begins = await consumer.beginning_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(begins[tp], ends[tp] - self.backlog))
            if started is not None:
                started.set()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for rec in records:
                        try:
                            event = events.decode_keyed(rec.key, rec.value, _ACCEPT)
                        except events.DecodeFailure:
                            continue  # dead-lettered by the workers and the writer; nothing to show
                        on_change(self.fold(event))
