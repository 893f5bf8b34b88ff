"""What every model of the plant file shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """The plant configuration is invalid; the message says where and why."""


from factory_app.rules.kind import MAX_RULE_DEADLINE_S  # noqa: F401 (re-exported: config's name for it)


class Strict(BaseModel):
    """Unknown keys are errors (a misspelt key must not be silently ignored); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
