"""Canonical digests of tables and per-key differences between two versions of a table."""

from __future__ import annotations

import hashlib
import json
from typing import Any

Table = dict[str, Any]


def canonical(value: Any) -> bytes:
    """One byte string per value, independent of dict order."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def digest(table: Table) -> str:
    """sha256 over the table's (key, value) pairs in key order; empty and deleted keys excluded."""
    h = hashlib.sha256()
    for key in sorted(k for k, v in table.items() if v is not None):
        h.update(canonical(key))
        h.update(b"\x00")
        h.update(canonical(table[key]))
        h.update(b"\x01")
    return h.hexdigest()


def differences(live: Table, rebuilt: Table, limit: int = 50) -> list[tuple[str, Any, Any]]:
    """Keys whose values differ: (key, live value, rebuilt value); None means missing."""
    out = []
    for key in sorted(set(live) | set(rebuilt)):
        a, b = live.get(key), rebuilt.get(key)
        if canonical(a) != canonical(b):
            out.append((key, a, b))
            if len(out) >= limit:
                break
    return out
