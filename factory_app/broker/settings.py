"""Settings of the development broker the project starts itself (``factory broker``, ``factory run``).

Kept apart from the runtime settings (``factory_app/settings.py``): a worker, an adapter or a
replay never needs to know how the local broker is fetched or started.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from factory_app.broker.versions import DEFAULT_KAFKA_VERSION


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACTORY_", extra="ignore")

    kafka_version: str = DEFAULT_KAFKA_VERSION
    # The local single broker's KRaft controller port (default: broker port + 1; always so with several nodes).
    controller_port: int | None = None
    # Where the broker jars are cached (default: FACTORY_HOME).
    kafka_jars: Path | None = None
    # A secured local cluster (SASL_SSL with SCRAM users per role, ACLs enforced): the real
    # thing to try a secured deployment against. ``factory broker start`` prints how to connect.
    broker_secure: bool = False
