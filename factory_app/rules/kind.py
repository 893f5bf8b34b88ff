"""What a rule kind is: one module's config model, pure evaluate, references and trigger asset.

A plant adds its own logic by writing one module that builds a ``RuleKind`` and
declaring it under the ``factory.rules`` entry point group of its package (see
``registry``); the plant file then names it as ``kind:``. Such a module imports from
``factory_app.rules`` (``Intent``, ``trusted``...) and this module only: the plant
configuration is built from the registered kinds, so it cannot import
``factory_app.config``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict

# A command older than this is no longer the answer to what the machine does now.
MAX_RULE_DEADLINE_S = 300.0

Ref = tuple[str, str, str]  # (asset, "read" | "write" | "method", tag or method name)
# (asset, "write" | "call", tag or method, the exact values a write may carry / the exact argument
# tuples a call may carry): what a rule's commands may ask, derived from its configuration.
Act = tuple[str, str, str, tuple]


class RuleConfig(BaseModel):
    """Base of every rule kind's model: unknown keys are errors, values frozen. A kind's model
    adds ``kind: Literal["its-name"]``, ``name: str``, ``deadline_s`` and its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class RuleKind:
    """Everything the system needs to run a kind of rule."""

    name: str  # the plant file's ``kind:``
    model: type[RuleConfig]
    # (rule, asset state after the event, the event, the rule's memory) -> (intents, new memory);
    # pure: no I/O, no clock (replays must decide alike)
    evaluate: Callable[..., tuple[list, Any]]
    refs: Callable[[Any], list[Ref]]  # everything a rule reads, writes or calls (checked against the plant)
    trigger: Callable[[Any], str]  # the asset whose events it reacts to (its memory is kept under it)
    # Its commands go ahead of queued ones in the writer's per-asset lane (the interlocks' stops);
    # only those that ask exactly what ``acts`` allows.
    safety: bool = False
    # Everything its commands may ask, value included (the writer refuses anything else); None: a
    # kind that does not say, whose writes are bounded by the targets in ``refs`` and the tags' limits.
    acts: Callable[[Any], list[Act]] | None = None
    # (raw rule document, raw asset documents by id) -> the document with defaults taken from the
    # asset (e.g. an auto-reset's ``state_tag``); None: nothing to fill in.
    fill: Callable[[dict, dict[str, dict]], dict] | None = None
