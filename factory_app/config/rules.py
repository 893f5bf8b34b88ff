"""The control rules as the plant file sees them: one model per registered kind (factory_app/rules/).

Each kind's model lives in its own module with its evaluate; the plant file's ``rules:``
entries are validated against the registered kinds (built-in and installed plug-ins).
"""

from __future__ import annotations

from factory_app.rules.auto_reset import AutoResetRule
from factory_app.rules.interlock import InterlockRule
from factory_app.rules.kind import Act, Ref
from factory_app.rules.registry import kind_of, kinds, rule_union
from factory_app.rules.thermostat import ThermostatRule

Rule = rule_union()


def rule_kinds() -> tuple[str, ...]:
    return tuple(kinds())


def rule_refs(rule) -> list[Ref]:
    """``(asset, "read" | "write" | "method", name)`` of everything ``rule`` reads or acts on."""
    return kind_of(rule).refs(rule)


def rule_acts(rule) -> list[Act] | None:
    """``(asset, "write" | "call", target, allowed values or argument tuples)`` of every command
    ``rule`` may send; None when its kind does not say (its targets are still bounded by refs)."""
    acts = kind_of(rule).acts
    return None if acts is None else acts(rule)


__all__ = ["AutoResetRule", "InterlockRule", "Rule", "ThermostatRule", "rule_acts", "rule_kinds", "rule_refs"]
