"""Every table key, built and parsed here and nowhere else.

| table | key |
|---|---|
| ``asset_state``, ``availability``, ``kpi_periods``, ``control_state``, ``control_rule_memory``, ``command_counts``, ``command_periods`` | the asset id |
| ``tag_windows`` | ``asset|tag|start`` for one window, ``asset|tag|index`` for its retained starts |
| ``command_ledger`` | the command id |

Keys are plain strings (the changelog's JSON keys, readable in any Kafka tool). Every key
of one asset lives in the asset's partition (the runtime writes it with the asset's events).
"""

from __future__ import annotations

SEP = "|"
_INDEX = "index"


def asset_key(asset_id: str) -> str:
    """Key of an asset's entry in the per-asset tables."""
    return asset_id


def command_key(command_id: str) -> str:
    """Key of a command's entry in the command ledger."""
    return command_id


def _escape(part: str) -> str:
    # Percent-escape the escape character first, then the separator: the joined key then
    # splits back into exactly the parts it was made of, whatever the parts contain.
    return part.replace("%", "%25").replace(SEP, "%7C")


def _unescape(part: str) -> str:
    return part.replace("%7C", SEP).replace("%25", "%")


def window_key(asset_id: str, tag: str, start: float) -> str:
    """Key of one window: ``asset|tag|start`` with the parts escaped, ``start`` as repr(float).

    Injective over all strings and floats (a property test proves it): no two series or
    windows share a key, and the ``index`` suffix of ``index_key`` is never a float's repr.
    """
    return f"{_escape(asset_id)}{SEP}{_escape(tag)}{SEP}{float(start) + 0.0!r}"  # + 0.0: -0.0 is 0.0


def index_key(asset_id: str, tag: str) -> str:
    """Key of the list of retained window starts of one (asset, tag)."""
    return f"{_escape(asset_id)}{SEP}{_escape(tag)}{SEP}{_INDEX}"


def parse_window_key(key: str) -> tuple[str, str, float | None]:
    """(asset, tag, window start) of a ``tag_windows`` key; start is None for an index key."""
    asset, tag, last = key.split(SEP)
    return _unescape(asset), _unescape(tag), None if last == _INDEX else float(last)
