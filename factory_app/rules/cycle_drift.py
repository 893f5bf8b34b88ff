"""Cycle drift: raise a maintenance request when a machine's cycle time leaves what it was trained on.

A model-driven rule. ``factory train cycle-drift`` fits a robust model of the machine's mean
cycle time over ``window`` consecutive cycles on a span of the log (factory_app/training/);
the artifact is a small JSON file (location, variance, the alarm threshold, and what it was
trained on), loaded once with the plant file, so evaluation is plain arithmetic: no library,
no clock, no I/O, the same commands live, in a rebuild and in ``factory whatif``.

A cycle is the time between two increments of the ``counter`` tag, in event time, counted
only while the machine reports ``running`` (a stop or a fault starts the count afresh: the
gap is not a slow cycle). When the mean of the last ``window`` cycles is further from the
trained location than the threshold (squared Mahalanobis distance), ``value`` is written to
``output`` once; the alarm re-arms when the mean is back inside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr

from factory_app import events
from factory_app.rules import Intent, Memory
from factory_app.rules.kind import MAX_RULE_DEADLINE_S, RuleConfig, RuleKind

ARTIFACT_KIND = "cycle_drift"


class CycleModel:
    """A trained artifact's numbers (see ``factory_app/training/cycle_drift.py``)."""

    def __init__(self, doc: dict):
        if doc.get("kind") != ARTIFACT_KIND:
            raise ValueError(f"not a {ARTIFACT_KIND} model (kind {doc.get('kind')!r})")
        self.window = int(doc["window"])
        self.location = float(doc["location"])
        self.variance = float(doc["variance"])
        self.threshold = float(doc["threshold_d2"])
        if self.window < 1 or self.variance <= 0:
            raise ValueError("window must be >= 1 and variance > 0")
        self.doc = doc

    @classmethod
    def load(cls, path: Path) -> "CycleModel":
        try:
            return cls(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot load the cycle-drift model {path}: {exc}") from None

    def distance2(self, mean_cycle_s: float) -> float:
        return (mean_cycle_s - self.location) ** 2 / self.variance


class CycleDriftRule(RuleConfig):
    """Write ``value`` to ``output`` when the mean cycle time drifts out of the trained model."""

    kind: Literal["cycle_drift"]
    name: str
    asset: str
    counter: str = "cycle_counter"
    state_tag: str = "state"  # cycles count only while it reads ``running``
    model: Path  # the trained artifact (JSON), relative to the working directory
    output: str = "maintenance_request"
    value: bool | float = True
    deadline_s: float = Field(default=30.0, gt=0, le=MAX_RULE_DEADLINE_S)
    _model: CycleModel = PrivateAttr()

    def model_post_init(self, context) -> None:
        self._model = CycleModel.load(self.model)  # ValueError -> a plant file error naming the rule

    @property
    def trained(self) -> CycleModel:
        return self._model


def observe(memory: dict, event, counter: str, state_tag: str) -> tuple[float | None, dict]:
    """Fold one of the asset's events into the cycle memory; the completed cycle time, if any.
    Shared by the rule and its training, so both see the same cycles."""
    mem = dict(memory)
    if not isinstance(event, events.Telemetry) or event.quality != "good":
        return None, mem
    if event.tag == state_tag:
        if event.value != "running":
            mem["last"] = None  # a stop or a fault is not a slow cycle
        return None, mem
    if event.tag != counter or isinstance(event.value, (bool, str)):
        return None, mem
    last, mem["last"] = mem.get("last"), [event.value, event.event_time]
    if last is None or event.value <= last[0]:
        return None, mem  # the first count seen, or a counter reset: no cycle to time
    return (event.event_time - last[1]) / (event.value - last[0]), mem


def evaluate(rule: CycleDriftRule, state: dict, event, memory: Memory) -> tuple[list[Intent], Memory]:
    if event.asset_id != rule.asset:
        return [], memory
    model = rule.trained
    cycle, mem = observe(memory or {"recent": [], "raised": False}, event, rule.counter, rule.state_tag)
    if cycle is None:
        return [], mem
    mem["recent"] = (mem["recent"] + [cycle])[-model.window:]
    if len(mem["recent"]) < model.window:
        return [], mem
    drifted = model.distance2(sum(mem["recent"]) / model.window) > model.threshold
    if drifted and not mem["raised"]:
        mem["raised"] = True
        return [Intent(rule.asset, "write", rule.output, rule.value)], mem
    if not drifted:
        mem["raised"] = False
    return [], mem


KIND = RuleKind("cycle_drift", CycleDriftRule, evaluate,
                refs=lambda r: [(r.asset, "read", r.counter), (r.asset, "read", r.state_tag),
                                (r.asset, "write", r.output)],
                trigger=lambda r: r.asset,
                acts=lambda r: [(r.asset, "write", r.output, (r.value,))])
