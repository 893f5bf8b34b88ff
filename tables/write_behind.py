"""A write-behind view of a Faust table for one batch of events from one partition.

The agents' folds read and write tables through ``get``, ``[k] = v`` and
``del``. Folding a batch through this view reads each key from the table once
and writes each changed key once at ``flush``, instead of once per event: every
table write is a RocksDB put plus a changelog message, and those messages are
the live path's bottleneck (see docs/benchmarks.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.serializers import codecs
from faust.streams import _current_event

from tables.batched import DELETE, BatchedTable

_DELETED = object()


class WriteBehind:
    """Read-through cache plus pending writes over ``table``; ``flush`` applies the writes in order."""

    def __init__(self, table, value_serializer: str | None = None):
        self.table = table
        # A Faust table serializes with its own codec; plain dicts (replays) check as JSON like it.
        self.value_serializer = value_serializer or getattr(table, "value_serializer", None) or "json"
        self._read: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}  # first-write order is kept
        self._encoded: list | None = None  # a BatchedTable's encoding of the pending sets, by validate

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._pending:
            value = self._pending[key]
            return default if value is _DELETED else value
        if key not in self._read:
            table = self.table
            self._read[key] = table.read(key) if isinstance(table, BatchedTable) else table.get(key)
        value = self._read[key]
        return default if value is None else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._pending[key] = value

    def __delitem__(self, key: str) -> None:
        self._pending[key] = _DELETED

    def validate(self) -> None:
        """Raise if any pending value cannot be serialized: called before any write, so a
        value the store would refuse fails the batch with nothing of it written."""
        if isinstance(self.table, BatchedTable):  # its encoding is kept for the write
            self._encoded = self.table.encode([(k, v) for k, v in self._pending.items() if v is not _DELETED])
            return
        for key, value in self._pending.items():
            if value is not _DELETED:
                codecs.dumps(self.value_serializer, value)

    def flush(self) -> int:
        """Write the pending changes; returns how many keys were written.

        Deletions go first. A fold deletes a key when another key stops referring
        to it (an evicted window, dropped from its index); the changelog keeps the
        order of one partition's writes, so if a crash loses a suffix of them, a
        surviving write implies the batch's deletions survived too. Sets need no
        order among themselves: each key records its own last offset.
        """
        deletes = [k for k, v in self._pending.items() if v is _DELETED]
        ordered = deletes + [k for k, v in self._pending.items() if v is not _DELETED]
        if isinstance(self.table, BatchedTable):  # one RocksDB write batch; changelog records at publish
            changes = []
            for key in ordered:
                value = self._pending[key]
                if value is not _DELETED:
                    changes.append((key, value))
                elif (self._read[key] if key in self._read else self.table.read(key)) is not None:
                    changes.append((key, DELETE))
            # Sets were encoded by validate (same values); deletions need only their keys.
            sets = {key: item for item in (self._encoded or []) for key in (item[0],)}
            encoded: list | None = []
            for key, value in changes:
                if value is DELETE:
                    encoded.append(self.table.encode([(key, DELETE)])[0])
                elif key in sets:
                    encoded.append(sets[key])
                else:  # not validated first: let stage encode everything
                    encoded = None
                    break
            self._encoded = None
            self.table.stage(changes, encoded)
            written = len(changes)
            self._pending.clear()
            self._read.clear()
            return written
        for key in ordered:
            value = self._pending[key]
            if value is _DELETED:
                # The fold read the key before deleting it, so the cache usually answers.
                known = self._read[key] if key in self._read else self.table.get(key)
                if known is not None:
                    del self.table[key]
            else:
                self.table[key] = value
        written = len(ordered)
        self._pending.clear()
        self._read.clear()
        return written


@contextmanager
def acting_as(event) -> Iterator[None]:
    """Make ``event`` Faust's current event while table writes are flushed.

    Faust routes a table write to the RocksDB partition and changelog partition
    of the *current* event. A batch flush happens outside per-event iteration,
    so it names the event itself: the last event of the partition being flushed.
    (Faust keeps this in ``faust.streams._current_event``, a private ContextVar;
    a test checks that flushed writes land in the right changelog partitions.)
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
