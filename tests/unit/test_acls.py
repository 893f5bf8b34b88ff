"""The per-role ACLs: each role gets its own topics and groups, and only the writer may record results."""

from __future__ import annotations

import pytest

from factory_app import events
from factory_app.acls import ROLES, bindings, render, role_grants
from factory_app.settings import Settings


def writers_of(grants, topic):
    return {g.role for g in grants if g.resource == "topic" and g.name == topic and g.pattern == "literal"
            and ("WRITE" in g.operations or "ALL" in g.operations)}


@pytest.fixture
def grants():
    return role_grants(Settings(topic_prefix="site-a.", app_id="plant"))


def test_who_may_append_to_each_source_topic(grants):
    s = Settings(topic_prefix="site-a.", app_id="plant")
    assert writers_of(grants, s.topic(events.TELEMETRY)) == {"ingest"}  # operators cannot forge readings
    assert writers_of(grants, s.topic(events.OPERATOR_ACTIONS)) == {"operator"}  # nor adapters mode changes
    assert writers_of(grants, s.topic(events.COMMANDS)) == {"worker", "operator"}
    assert writers_of(grants, s.topic(events.COMMAND_RESULTS)) == {"writer"}
    assert writers_of(grants, s.topic(events.COMMAND_INTENTS)) == {"writer"}
    assert writers_of(grants, s.topic(events.SHADOW_COMMANDS)) == {"worker"}


def test_the_writer_reads_the_commands_topic_and_not_the_shadow_one(grants):
    s = Settings(topic_prefix="site-a.", app_id="plant")
    read = {g.name for g in grants if g.role == "writer" and "READ" in g.operations}
    assert s.topic(events.COMMANDS) in read and s.topic(events.SHADOW_COMMANDS) not in read
    assert not any(g.pattern == "prefixed" for g in grants if g.role == "writer")


def test_no_role_gets_a_prefixed_write_on_the_source_topics(grants):
    # A prefixed WRITE on "site-a." would let a role append commands whatever its literal grants say.
    for g in grants:
        if g.pattern == "prefixed" and g.name == "site-a.":
            assert set(g.operations) <= {"READ", "DESCRIBE"}, g


def test_replay_only_reads(grants):
    assert {op for g in grants if g.role == "replay" for op in g.operations} == {"READ", "DESCRIBE"}


def test_groups_follow_the_app_id(grants):
    assert {(g.role, g.name) for g in grants if g.resource == "group"} == {
        ("worker", "plant"), ("writer", "plant-command-writer")}


def test_users_can_be_renamed_and_unknown_roles_are_refused():
    grants = role_grants(Settings(), {"worker": "site-a-worker"})
    assert {g.principal for g in grants if g.role == "worker"} == {"User:site-a-worker"}
    with pytest.raises(ValueError, match="unknown role"):
        role_grants(Settings(), {"wroker": "x"})


def test_plan_lists_every_role_and_bindings_cover_every_operation(grants):
    table = render(grants)
    assert all(f"User:{role}" in table for role in ROLES)
    assert len(bindings(grants)) == sum(len(g.operations) for g in grants)


def covers(grant, topic: str) -> bool:
    return grant.name == topic if grant.pattern == "literal" else topic.startswith(grant.name)


@pytest.mark.parametrize("prefix", ["plant-", "plant-site-a.", "plant-command"])
def test_a_topic_prefix_inside_the_workers_own_prefix_is_refused_naming_both(prefix):
    """The worker may do ALL on "APP_ID-*" (its changelogs): with such a prefix it could append
    command results, making the writer skip real commands, or delete the log."""
    with pytest.raises(ValueError) as refused:
        Settings(topic_prefix=prefix, app_id="plant")
    text = str(refused.value)
    assert "FACTORY_TOPIC_PREFIX" in text and "FACTORY_APP_ID" in text and repr(prefix) in text and "'plant-'" in text


@pytest.mark.parametrize("prefix,app", [("factory.", "factory"), ("plant_", "plant"), ("site-a.", "plant")])
def test_accepted_settings_leave_every_source_topic_outside_every_prefixed_write(prefix, app):
    settings = Settings(topic_prefix=prefix, app_id=app)
    for grant in role_grants(settings):
        if grant.pattern == "prefixed" and {"WRITE", "ALL", "DELETE"} & set(grant.operations):
            assert not [n for n in events.SOURCE_TOPICS if covers(grant, settings.topic(n))], grant


def test_every_role_refuses_to_start_with_such_a_prefix(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "FACTORY_TOPIC_PREFIX": "factory-", "FACTORY_APP_ID": "factory", "FACTORY_HOME": str(tmp_path),
           "FACTORY_BOOTSTRAP": "127.0.0.1:9"}  # nothing listens there: a start would hang on it, not exit
    for role in (["worker"], ["adapter", "ingest"], ["adapter", "writer"], ["mode", "oven-1", "manual"]):
        proc = subprocess.run([sys.executable, "-m", "factory_app", *role], env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode != 0, (role, proc.stdout, proc.stderr)
        assert "FACTORY_TOPIC_PREFIX" in proc.stderr and "'factory-'" in proc.stderr, (role, proc.stderr)
