"""The sites file: which sites the central cluster mirrors, and how.

    central:
      bootstrap: 127.0.0.1:9392
    sites:
      - name: plant-a              # the site's alias: central topics are "plant-a.<site topic>"
        bootstrap: 127.0.0.1:9092
        topic_prefix: factory.     # the site's FACTORY_TOPIC_PREFIX
        plant: config/plant.yaml   # the site's plant file (its assets, for the central folds)
        central_web_port: 6170     # the web port of the central worker folding this site
      - name: plant-b
        bootstrap: 127.0.0.1:9192
        security:                  # how the mirror (and `factory mirror status`) reach this site
          security_protocol: SASL_SSL
          ssl_cafile: certs/plant-b-ca.pem
          sasl_username: mirror     # the site's `mirror` role (factory acls): reads the source topics
          sasl_password_file: secrets/plant-b-mirror
    mirror:
      exactly_once: true           # MirrorMaker 2's exactly-once source mode, the default (docs/edge-to-cloud.md)
      topics: [telemetry, commands, command-results]

Site identity rides in the topic name (MirrorMaker's default replication policy prefixes
the source cluster's alias), not in the events: a site cannot mislabel itself, the events'
contract is unchanged, and every central consumer sees which site a record came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from factory_app import events
from factory_app.config import ConfigError
from factory_app.settings import KafkaSettings

# An alias becomes a topic prefix joined by "." (the replication policy's separator): no dots.
SITE_NAME = r"^[a-z][a-z0-9-]{0,30}$"
# What the centre needs to rebuild each site's history: its telemetry, its operators' mode
# changes, what was commanded and what came of it. Not dead letters: the central folds dead-letter the same bad records into
# a central topic of their own (a mirrored topic is written by the mirror alone).
DEFAULT_TOPICS = (events.TELEMETRY, events.OPERATOR_ACTIONS, events.COMMANDS, events.COMMAND_RESULTS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkSecurity(_Strict):
    """How the mirror reaches one cluster: the project's client settings (FACTORY_SECURITY_PROTOCOL
    ...), the password only from a file (a sites file is shared; its secrets are not). Paths
    are relative to the sites file."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password_file: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> "LinkSecurity":
        if self.security_protocol.startswith("SASL") and not (self.sasl_username and self.sasl_password_file):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username and sasl_password_file")
        return self

    def resolved(self, base: Path) -> "LinkSecurity":
        return self.model_copy(update={k: base / v for k in ("ssl_cafile", "sasl_password_file")
                                       if (v := getattr(self, k)) is not None and not v.is_absolute()})


class _Cluster(_Strict):
    bootstrap: str = Field(min_length=3)
    security: LinkSecurity = LinkSecurity()

    @property
    def kafka(self) -> KafkaSettings:
        """The project's client settings for this cluster, as the mirror signs in (``factory mirror status``)."""
        return KafkaSettings(bootstrap=self.bootstrap, **self.security.model_dump())


class Central(_Cluster):
    pass


class Site(_Cluster):
    name: str = Field(pattern=SITE_NAME)
    topic_prefix: str = "factory."
    plant: Path | None = None
    # The web port of the central worker that folds this site's mirror (`factory worker --site`).
    central_web_port: int = Field(default=6170, ge=1, le=65535)
    # The site's own fold settings where they are not the defaults (flat names, e.g.
    # window_seconds): the central folds must be the site's folds.
    fold_settings: dict[str, str | int | float | bool] = Field(default_factory=dict)


class MirrorOptions(_Strict):
    # MirrorMaker's exactly-once source mode (KIP-618), on by default: records and source
    # offsets commit in one transaction, so no copy ever becomes visible centrally. In
    # at-least-once mode a restarted task re-sends everything delivered since its last offset
    # commit, and a central outage (Connect revokes its tasks when the coordinator has been
    # unreachable for 3 s) can make that hundreds of records per asset: more than any
    # ``dedup_horizon`` the central folds can afford (docs/edge-to-cloud.md).
    exactly_once: bool = True
    # How many recent event ids per asset the central folds remember to skip a re-sent copy
    # (a second line behind exactly-once; in at-least-once mode it covers a killed mirror's
    # re-send of ~commit_interval_ms of records, not the re-send after a central outage).
    dedup_horizon: int = Field(default=256, ge=1)
    # Logical source topic names (never the changelogs: tables are rebuilt centrally from the log).
    topics: tuple[str, ...] = DEFAULT_TOPICS
    # How often MirrorMaker commits its source offsets (and, in exactly-once mode, its
    # transactions): the most a killed mirror re-reads, and the visibility delay centrally.
    commit_interval_ms: int = Field(default=1000, ge=100)

    @field_validator("topics")
    @classmethod
    def _known(cls, topics: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(topics) - set(events.SOURCE_TOPICS))
        if unknown:
            raise ValueError(f"not source topics: {', '.join(unknown)} (known: {', '.join(events.SOURCE_TOPICS)})")
        return topics


class SitesConfig(_Strict):
    central: Central
    sites: tuple[Site, ...] = Field(min_length=1)
    mirror: MirrorOptions = MirrorOptions()

    @model_validator(mode="after")
    def _unique(self) -> "SitesConfig":
        names = [s.name for s in self.sites]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"site names must be unique: {', '.join(dupes)}")
        if "central" in names:
            raise ValueError("'central' names the central cluster; give the site another name")
        return self

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        raise ConfigError(f"no site {name!r} in the sites file (sites: {', '.join(s.name for s in self.sites)})")


def load_sites(path: Path | str) -> SitesConfig:
    """Read and validate the sites file; ``ConfigError`` names the file and each bad key."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the sites file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        config = SitesConfig.model_validate(doc)
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid sites file:\n  " + "\n  ".join(problems)) from None
    # A relative path is the site file's neighbour, as a user writing it would mean.
    base = path.parent
    sites = tuple(s.model_copy(update={"security": s.security.resolved(base),
                                       **({} if s.plant is None or s.plant.is_absolute() else {"plant": base / s.plant})})
                  for s in config.sites)
    central = config.central.model_copy(update={"security": config.central.security.resolved(base)})
    return config.model_copy(update={"sites": sites, "central": central})
