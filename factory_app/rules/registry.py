"""The rule kinds a plant file may name: the built-in ones and those of installed packages.

A package registers a kind with an entry point in the ``factory.rules`` group that names its
``RuleKind``, e.g. in its pyproject.toml::

    [project.entry-points."factory.rules"]
    drift_alarm = "my_plant_rules.drift:KIND"
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Annotated, Union

from pydantic import Field

from factory_app.rules.kind import RuleKind

ENTRY_POINT_GROUP = "factory.rules"


class RuleKindError(RuntimeError):
    """An installed rule kind cannot be loaded or clashes with another."""


@functools.cache
def kinds() -> dict[str, RuleKind]:
    """Every registered kind by name (built-in first; an installed one may not reuse a name)."""
    from factory_app.rules import auto_reset, cycle_drift, interlock, thermostat

    out = {k.name: k for k in (thermostat.KIND, interlock.KIND, auto_reset.KIND, cycle_drift.KIND)}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            kind = ep.load()
        except Exception as exc:
            raise RuleKindError(f"rule kind entry point {ep.name!r} ({ep.value}) cannot be loaded: "
                                f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(kind, RuleKind):
            raise RuleKindError(f"rule kind entry point {ep.name!r} ({ep.value}) is not a RuleKind")
        if kind.name in out:
            raise RuleKindError(f"rule kind {kind.name!r} of entry point {ep.value} is already registered")
        out[kind.name] = kind
    return out


def kind_of(rule) -> RuleKind:
    return kinds()[rule.kind]


def rule_union():
    """The plant file's rule type: one model per kind, chosen by ``kind``."""
    models = tuple(k.model for k in kinds().values())
    return Annotated[Union[models], Field(discriminator="kind")]
