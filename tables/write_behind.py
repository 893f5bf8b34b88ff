"""A write-behind view of a Faust table for one batch of events from one partition.

The agents' folds read and write tables through ``get``, ``[k] = v`` and
``del``. Folding a batch through this view reads each key from the table once
and writes each changed key once at ``flush``, instead of once per event: every
table write is a RocksDB put plus a changelog message, and those messages are
the live path's bottleneck (see docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from tables.batched import DELETE, BatchedTable


class WriteBehind:
    """Read-through cache plus pending writes over ``table``; ``flush`` applies the writes in order."""

    def __init__(self, table, value_serializer: str | None = None):
        self.table = table
        # A Faust table serializes with its own codec; plain dicts (replays) check as JSON like it.
        self.value_serializer = value_serializer or getattr(table, "value_serializer", None) or "json"
        self._batched = isinstance(table, BatchedTable)
        self._read: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}  # first-write order is kept; DELETE marks a deletion
        self._validated: tuple[list, list] | None = None  # (changes, their encoding), by validate

    def _lookup(self, key: str) -> Any:
        if key not in self._read:
            self._read[key] = self.table.read(key) if self._batched else self.table.get(key)
        return self._read[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self._pending[key] if key in self._pending else self._lookup(key)
        return default if value is None or value is DELETE else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._pending[key] = value

    def __delitem__(self, key: str) -> None:
        self._pending[key] = DELETE

    def _changes(self) -> list[tuple[str, Any]]:
        """The pending ``(key, value or DELETE)`` changes in write order.

        Deletions go first. A fold deletes a key when another key stops referring
        to it (an evicted window, dropped from its index); the changelog keeps the
        order of one partition's writes, so if a crash loses a suffix of them, a
        surviving write implies the batch's deletions survived too. Sets need no
        order among themselves: each key records its own last offset. A key that
        is already absent is not deleted again (the fold read it before deleting
        it, so the cache answers).
        """
        deletes = [(k, DELETE) for k, v in self._pending.items() if v is DELETE and self._lookup(k) is not None]
        return deletes + [(k, v) for k, v in self._pending.items() if v is not DELETE]

    def validate(self) -> None:
        """Raise if any pending value cannot be serialized: called before any write, so a
        value the store would refuse fails the batch with nothing of it written."""
        if self._batched:  # its encoding is kept for the write
            changes = self._changes()
            self._validated = (changes, self.table.encode(changes))
            return
        for value in self._pending.values():
            if value is not DELETE:
                codecs.dumps(self.value_serializer, value)

    def flush(self) -> int:
        """Write the pending changes (see ``_changes`` for their order); returns how many keys were pending."""
        changes, encoded = self._validated or (self._changes(), None)
        pending = len(self._pending)
        if self._batched:  # one RocksDB write batch; the changelog records go at publish
            self.table.stage(changes, encoded)
        else:
            for key, value in changes:
                if value is DELETE:
                    del self.table[key]
                else:
                    self.table[key] = value
        self._pending.clear()
        self._read.clear()
        self._validated = None
        return pending
