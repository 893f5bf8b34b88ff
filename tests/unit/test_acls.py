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
    assert writers_of(grants, s.topic(events.TELEMETRY)) == {"ingest", "operator"}
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
