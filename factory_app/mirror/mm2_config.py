"""MirrorMaker 2's properties for a sites file (pure: the file in, the text out).

One dedicated MirrorMaker process per central cluster pulls from every site (``--clusters
central``: it only runs the flows whose target is central). Pulling from the centre is the
usual choice behind site firewalls: the site needs no outbound route to the cloud's brokers
beyond what its own clients already open, only an inbound listener the central mirror reads,
and it writes nothing to the site (offset syncs are kept on the central cluster).
"""

from __future__ import annotations

import re
from pathlib import Path

from factory_app.mirror.sites import LinkSecurity, SitesConfig

CENTRAL = "central"


def mirrored_topic(site: str, site_topic: str) -> str:
    """The central name of a site's topic (MirrorMaker's DefaultReplicationPolicy)."""
    return f"{site}.{site_topic}"


def secured_aliases(config: SitesConfig) -> dict[str, LinkSecurity]:
    """Cluster alias -> its link security, for every cluster the mirror reaches over SASL."""
    clusters = {CENTRAL: config.central.security, **{s.name: s.security for s in config.sites}}
    return {alias: sec for alias, sec in clusters.items() if sec.security_protocol.startswith("SASL")}


def _security_props(alias: str, sec: LinkSecurity, secrets_dir: Path) -> dict[str, str]:
    """One cluster's client security in Kafka's own names. The password is not in the file:
    Kafka's DirectoryConfigProvider reads it from ``secrets_dir/ALIAS`` (a copy of the
    password file, written when the mirror starts), so ``mirror config`` prints no secret."""
    if sec.security_protocol == "PLAINTEXT":
        return {}
    props = {f"{alias}.security.protocol": sec.security_protocol}
    if sec.security_protocol in ("SSL", "SASL_SSL") and sec.ssl_cafile is not None:
        props[f"{alias}.ssl.truststore.type"] = "PEM"
        props[f"{alias}.ssl.truststore.location"] = str(sec.ssl_cafile.resolve())
    if sec.security_protocol.startswith("SASL"):
        module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if sec.sasl_mechanism == "PLAIN"
                  else "org.apache.kafka.common.security.scram.ScramLoginModule")
        props[f"{alias}.sasl.mechanism"] = sec.sasl_mechanism
        props[f"{alias}.sasl.jaas.config"] = (f'{module} required username="{sec.sasl_username}" '
                                              f'password="${{dir:{secrets_dir.resolve()}:{alias}}}";')
    return props


def admin_properties(config: SitesConfig, secrets_dir: Path = Path("secrets")) -> str:
    """Client properties for Kafka's admin tools against the central cluster (their
    ``--command-config``), signing in as the mirror does."""
    prefix = f"{CENTRAL}."
    props = {k[len(prefix):]: v for k, v in _security_props(CENTRAL, config.central.security, secrets_dir).items()}
    if CENTRAL in secured_aliases(config):
        props["config.providers"] = "dir"
        props["config.providers.dir.class"] = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
    return "".join(f"{k} = {v}\n" for k, v in props.items())


def mm2_properties(config: SitesConfig, *, replication: int = 1, secrets_dir: Path = Path("secrets")) -> str:
    """The ``mm2.properties`` of ``config``'s mirror (``secrets_dir``: where the running mirror
    keeps its copies of the SASL passwords)."""
    mirror = config.mirror
    props: dict[str, str] = {
        "clusters": ", ".join([CENTRAL, *(s.name for s in config.sites)]),
        f"{CENTRAL}.bootstrap.servers": config.central.bootstrap,
        # Replication factor of the mirrored topics and of MirrorMaker's own topics.
        "replication.factor": str(replication),
        **{f"{name}.replication.factor": str(replication) for name in (
            "checkpoints.topic", "heartbeats.topic", "offset-syncs.topic", "config.storage",
            "offset.storage", "status.storage")},
        # Offset syncs on the target: the mirror never writes to a site.
        "offset-syncs.topic.location": "target",
        # Source offsets (and transactions in exactly-once mode) every commit_interval_ms. A
        # worker setting: dedicated MirrorMaker takes those from the target cluster's own keys
        # (a top-level one is ignored, and Connect's 60 s default made every restart within a
        # minute re-send everything mirrored so far).
        f"{CENTRAL}.offset.flush.interval.ms": str(mirror.commit_interval_ms),
        # Plugins from their ServiceLoader manifests, not a scan of every class on the class path:
        # the scan took 25-50 s per flow here (Connect's own advice in its log). The top-level key
        # is MirrorMaker's own config; each flow's worker takes the target cluster's key.
        "plugin.discovery": "service_load",
        f"{CENTRAL}.plugin.discovery": "service_load",
        # Topic configs follow the site's (retention forever); ACLs are the centre's own business.
        "sync.topic.configs.enabled": "true",
        "sync.topic.acls.enabled": "false",
        # Consumer groups are not translated: central workers have their own groups and rebuild.
        "sync.group.offsets.enabled": "false",
        "emit.checkpoints.enabled": "false",
        "refresh.topics.interval.seconds": "10",
        # Each mirrored record as committed on the site, in the site's order per partition.
        "consumer.isolation.level": "read_committed",
        "consumer.auto.offset.reset": "earliest",
        "producer.enable.idempotence": "true",
        "producer.acks": "all",
    }
    if secured_aliases(config):
        props["config.providers"] = "dir"
        props["config.providers.dir.class"] = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
    props.update(_security_props(CENTRAL, config.central.security, secrets_dir))
    if mirror.exactly_once:
        # KIP-618 in dedicated mode: records and source offsets commit in one transaction on
        # the target; central consumers must read committed records only (they do).
        props[f"{CENTRAL}.exactly.once.source.support"] = "enabled"
        # The producers' transaction timeout stays Kafka's 60 s: a killed MirrorMaker's open
        # transactions hold its successor until then, but with 10 s a central outage longer than
        # that left hanging transactions behind (the coordinator aborted them while the producer's
        # retried writes still landed): read-committed readers, MirrorMaker's own offsets reader
        # among them, then stalled for good (docs/edge-to-cloud.md).
    for site in config.sites:
        props[f"{site.name}.bootstrap.servers"] = site.bootstrap
        props.update(_security_props(site.name, site.security, secrets_dir))
        flow = f"{site.name}->{CENTRAL}"
        props[f"{flow}.enabled"] = "true"
        props[f"{flow}.topics"] = ", ".join(re.escape(site.topic_prefix + t) for t in mirror.topics)
        props[f"{flow}.emit.heartbeats.enabled"] = "true"
        props[f"{flow}.emit.heartbeats.interval.seconds"] = "1"
        props[f"{CENTRAL}->{site.name}.enabled"] = "false"
    return "".join(f"{k} = {v}\n" for k, v in props.items())
