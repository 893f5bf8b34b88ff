"""Who may do what on the log: one principal per role and the Kafka ACLs each needs, nothing more.

The log is the authority, so the first safety question is who may append a Command. Each
process runs as its role's principal, and the broker's authorizer (KRaft's
StandardAuthorizer, denying what no ACL allows) enforces:

- ``ingest``   appends telemetry, nothing else;
- ``worker``   reads the source topics, appends commands and dead letters, owns its group and
               its ``APP_ID-`` topics (table changelogs, Faust's assignor topic);
- ``writer``   reads commands and operator actions (the mode at the write), appends command intents, results and dead letters, owns the
               writer's group; it is the only principal that touches machines;
- ``operator`` appends commands (the plant view, ``factory command``) and mode changes
               (``factory mode``: the operator-actions topic) and reads the log to show it;
               it cannot append telemetry, and no other principal can append operator
               actions; operator names inside a command or a mode change are checked by
               the writer and the plant view;
- ``replay``   reads the log and the changelogs (state-at, verify, backfill into its own
               tables); rewind and rebuild change groups and topics: the admin runs them;
- ``mirror``   the central MirrorMaker pulling this site: reads the mirrored source topics
               and their configs, writes nothing here (its offsets live centrally).

``role_grants`` is a pure function of the deployment's names, so ``factory acls plan``
prints exactly what ``factory acls apply`` creates.
"""

from __future__ import annotations

from dataclasses import dataclass

from factory_app import events
from factory_app.settings import Settings

ROLES = ("ingest", "worker", "writer", "operator", "replay", "mirror")


@dataclass(frozen=True)
class Grant:
    """Allow ``principal`` the ``operations`` on a resource (a literal name or a name prefix)."""

    role: str
    principal: str
    resource: str  # topic | group | cluster
    name: str
    pattern: str  # literal | prefixed
    operations: tuple[str, ...]


def principals(users: dict[str, str] | None = None) -> dict[str, str]:
    """Each role's Kafka principal: ``User:ROLE`` unless ``users`` names another user."""
    users = users or {}
    unknown = set(users) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(sorted(unknown))}; roles are {', '.join(ROLES)}")
    return {role: f"User:{users.get(role, role)}" for role in ROLES}


def role_grants(settings: Settings, users: dict[str, str] | None = None) -> list[Grant]:
    """Every ACL the deployment's roles need (pure: the settings' names only)."""
    who = principals(users)
    topic = settings.topic
    prefix, app = settings.kafka.topic_prefix, settings.worker.app_id
    read, write = ("READ", "DESCRIBE"), ("WRITE", "DESCRIBE")

    def t(role, name, ops, pattern="literal"):
        return Grant(role, who[role], "topic", name, pattern, ops)

    def g(role, name, pattern="literal"):
        return Grant(role, who[role], "group", name, pattern, ("READ", "DESCRIBE"))

    return [
        t("ingest", topic(events.TELEMETRY), write),
        # The worker: every source topic in, commands and dead letters out, its own topics and group.
        t("worker", prefix, read, "prefixed"),
        t("worker", topic(events.COMMANDS), write),
        t("worker", topic(events.SHADOW_COMMANDS), write),  # a shadow rule set's; the writer cannot read it
        t("worker", topic(events.DEAD_LETTER), write),
        t("worker", f"{app}-", ("ALL",), "prefixed"),
        g("worker", app),
        # The command writer: commands in; intents, results, dead letters out; its own group.
        t("writer", topic(events.COMMANDS), read),
        t("writer", topic(events.OPERATOR_ACTIONS), read),  # the mode, checked at the write
        t("writer", topic(events.COMMAND_INTENTS), read + ("WRITE",)),
        t("writer", topic(events.COMMAND_RESULTS), read + ("WRITE",)),
        t("writer", topic(events.DEAD_LETTER), write),
        g("writer", f"{app}-command-writer"),
        # Operators: commands out; the log in, to show the plant and a command's result.
        t("operator", prefix, read, "prefixed"),
        t("operator", topic(events.COMMANDS), write),
        t("operator", topic(events.OPERATOR_ACTIONS), write),  # auto/manual; never telemetry
        # Replays read only, the log and the tables' changelogs.
        t("replay", prefix, read, "prefixed"),
        t("replay", f"{app}-", read, "prefixed"),
        # The central mirror: every source topic a sites file may mirror, read only.
        *(t("mirror", topic(name), read + ("DESCRIBE_CONFIGS",)) for name in events.SOURCE_TOPICS),
    ]


def render(grants: list[Grant]) -> str:
    """The grants as a table (one line per principal, resource and operations)."""
    rows = [("ROLE", "PRINCIPAL", "RESOURCE", "NAME", "OPERATIONS")] + [
        (x.role, x.principal, x.resource, x.name + ("*" if x.pattern == "prefixed" else ""), ",".join(x.operations))
        for x in grants]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def bindings(grants: list[Grant]):
    """confluent-kafka ``AclBinding``s of the grants (one per operation), allowed from any host."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType)

    return [AclBinding(ResourceType[x.resource.upper()], x.name, ResourcePatternType[x.pattern.upper()],
                       x.principal, "*", AclOperation[op], AclPermissionType.ALLOW)
            for x in grants for op in x.operations]


def apply(settings: Settings, grants: list[Grant], timeout: float = 30.0) -> int:
    """Create the grants' ACLs on the cluster, as the settings' principal (an admin). Kafka
    keeps one copy of an ACL however often it is created, so applying twice is harmless."""
    from confluent_kafka.admin import AdminClient

    from factory_app.kafka_security import librdkafka_config

    admin = AdminClient(librdkafka_config(settings.kafka))
    wanted = bindings(grants)
    for future in admin.create_acls(wanted, request_timeout=timeout).values():
        future.result()  # raises KafkaException naming the refusal (e.g. not an admin)
    return len(wanted)
