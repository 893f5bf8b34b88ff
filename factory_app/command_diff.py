"""Two lists of commands paired by command id: what one decided and the other did not, and
what both decided differently. Pure; shared by ``factory whatif`` (a proposal over history)
and the shadow processor (a proposal live), so both compare decisions the same way."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from factory_app import events


@dataclass
class Diff:
    """Commands of ``a`` against ``b`` paired by id."""

    only_a: list[events.Command]
    only_b: list[events.Command]
    changed: list[tuple[events.Command, events.Command]]

    @property
    def empty(self) -> bool:
        return not (self.only_a or self.only_b or self.changed)


def _content(cmd: events.Command) -> bytes:
    return msgspec.json.encode(cmd)


def diff(a: list[events.Command], b: list[events.Command]) -> Diff:
    """Pair ``a`` and ``b`` by command id; a pure function of the two lists."""
    by_a = {c.command_id: c for c in a}
    by_b = {c.command_id: c for c in b}
    return Diff(only_a=[c for cid, c in by_a.items() if cid not in by_b],
                only_b=[c for cid, c in by_b.items() if cid not in by_a],
                changed=[(by_a[cid], by_b[cid]) for cid in by_a.keys() & by_b.keys()
                         if _content(by_a[cid]) != _content(by_b[cid])])
