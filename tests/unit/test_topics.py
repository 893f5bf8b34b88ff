"""Topic configs: replicated clusters get min.insync.replicas on every topic the project creates."""

from factory_app.settings import Settings
from factory_app.topics import changelog_topic_configs, source_topic_specs


def test_three_brokers_mean_three_replicas_and_two_in_sync_everywhere():
    s = Settings(bootstrap="127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
    assert s.kafka.replication == 3
    assert all(spec.replication == 3 and spec.configs["min.insync.replicas"] == "2"
               for spec in source_topic_specs(s))
    # Also what a rebuild uses when it replaces a changelog.
    assert changelog_topic_configs(s) == {"cleanup.policy": "compact", "min.insync.replicas": "2"}


def test_one_broker_needs_no_in_sync_minimum():
    s = Settings(bootstrap="127.0.0.1:1")
    assert s.kafka.replication == 1
    assert "min.insync.replicas" not in changelog_topic_configs(s)
