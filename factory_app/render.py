"""Terminal rendering of asset state (rich tables)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.table import Table


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
        st = states[asset]
        for i, (tag, sample) in enumerate(sorted(st["tags"].items())):
            table.add_row(asset if i == 0 else "", tag, _fmt_value(sample["value"]), sample["quality"],
                          _fmt_time(sample["event_time"]),
                          (st.get("connection") or "-") if i == 0 else "",
                          (st.get("machine_state") or "-") if i == 0 else "")
    return table


def commands_table(entries: list[dict], title: str = "Recent commands") -> Table:
    """One row per command: when, rule, target, value, and the writer's verdict."""
    table = Table(title=title)
    for col in ("issued (UTC)", "rule", "asset", "target", "value", "status", "detail"):
        table.add_column(col)
    for e in entries:
        table.add_row(_fmt_time(e.get("issued_at")), e.get("rule", "-"), e.get("asset_id", "-"),
                      e.get("target", "-"), _fmt_value(e.get("value")), e.get("status", "pending"),
                      (e.get("detail") or "")[:40])
    return table
