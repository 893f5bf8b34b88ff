"""A proposed plant: the current plant file with some rules' parameters changed (``--set``)."""

from __future__ import annotations

import copy

import yaml


def parse_set(text: str) -> tuple[str, str, object]:
    """``RULE.PARAM=VALUE`` -> (rule, param, value); the value is read as YAML (180, true, [a, b])."""
    target, sep, raw = text.partition("=")
    rule, dot, param = target.rpartition(".")
    if not sep or not dot or not rule or not param:
        raise ValueError(f"{text!r} is not RULE.PARAM=VALUE (e.g. oven-1-thermostat.on_below=180)")
    return rule, param, yaml.safe_load(raw)


def with_rule_params(doc: dict, sets: list[tuple[str, str, object]]) -> dict:
    """A copy of the plant document with each (rule, param, value) set; unknown rules are refused."""
    out = copy.deepcopy(doc)
    by_name = {r.get("name"): r for r in out.get("rules") or []}
    for rule, param, value in sets:
        if rule not in by_name:
            raise ValueError(f"no rule named {rule!r}; the plant's rules are {', '.join(sorted(map(str, by_name)))}")
        by_name[rule][param] = value
    return out
