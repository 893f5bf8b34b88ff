"""What every model of the plant file shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """The plant configuration is invalid; the message says where and why."""


# A command older than this is no longer the answer to what the machine does now.
MAX_RULE_DEADLINE_S = 300.0


class Strict(BaseModel):
    """Unknown keys are errors (a misspelt key must not be silently ignored); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
