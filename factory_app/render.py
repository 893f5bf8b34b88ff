"""Terminal rendering of asset state and commands (rich tables), from what the views serve.

The views' JSON is read back into the table value structs (``tables/values.py``), so the
columns follow the declared shapes, not field names repeated here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec
from rich.table import Table

from tables.values import AssetStateV1, LedgerEntryV1


def _fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _fmt_value(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def state_table(states: dict[str, dict], title: str = "Asset state") -> Table:
    """One row per (asset, tag): value, quality, event time; plus connection and machine state."""
    table = Table(title=title)
    for col in ("asset", "tag", "value", "quality", "event time (UTC)", "connection", "machine"):
        table.add_column(col)
    for asset in sorted(states):
        st = msgspec.convert(states[asset], AssetStateV1)
        for i, (tag, sample) in enumerate(sorted(st.tags.items())):
            table.add_row(asset if i == 0 else "", tag, _fmt_value(sample.value), sample.quality,
                          _fmt_time(sample.event_time),
                          (st.connection or "-") if i == 0 else "",
                          (st.machine_state or "-") if i == 0 else "")
    return table


def commands_table(entries: list[dict], title: str = "Recent commands") -> Table:
    """One row per command: when, rule, target, value, and the writer's verdict."""
    table = Table(title=title)
    for col in ("issued (UTC)", "rule", "asset", "target", "value", "status", "detail"):
        table.add_column(col)
    for e in (msgspec.convert(entry, LedgerEntryV1) for entry in entries):
        table.add_row(_fmt_time(e.issued_at), e.rule or "-", e.asset_id or "-", e.target or "-",
                      _fmt_value(e.value), e.status, (e.detail or "")[:40])
    return table
