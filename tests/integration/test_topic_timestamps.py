"""Source topics take the broker's append time (issue 29, item 15): new ones are made so, and
``factory topics`` moves ones made before (CreateTime) over, leaving their other configs alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest

from factory_app import events
from factory_app.kafka_clients import TopicSpec, ensure_topics
from factory_app.settings import Settings
from factory_app.topics import FOREVER, stamp_with_append_time

pytestmark = pytest.mark.integration


def topic_configs(settings: Settings, name: str) -> dict[str, str]:
    from confluent_kafka.admin import AdminClient, ConfigResource

    from factory_app.kafka_security import librdkafka_config

    admin = AdminClient(librdkafka_config(settings.kafka))
    (future,) = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)]).values()
    return {k: v.value for k, v in future.result().items()}


def test_topics_made_with_the_producers_time_are_moved_to_the_brokers(kafka, tmp_path):
    settings = Settings(bootstrap=kafka.cfg.bootstrap, home=tmp_path, topic_prefix=f"old{uuid.uuid4().hex[:6]}.",
                        partitions=2)
    old = [TopicSpec(settings.topic(n), 2, 1, {**FOREVER, "message.timestamp.type": "CreateTime"})
           for n in events.SOURCE_TOPICS]
    asyncio.run(ensure_topics(settings.kafka, old))
    assert topic_configs(settings, settings.topic(events.TELEMETRY))["message.timestamp.type"] == "CreateTime"
    proc = subprocess.run([sys.executable, "-m", "factory_app", "topics"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **settings.to_env()})
    assert proc.returncode == 0, proc.stderr
    assert "now stamped with the broker's append time" in proc.stdout and settings.topic(events.TELEMETRY) in proc.stdout
    for name in events.SOURCE_TOPICS:
        configs = topic_configs(settings, settings.topic(name))
        assert configs["message.timestamp.type"] == "LogAppendTime", name
        assert configs["retention.ms"] == "-1", name  # the other configs stay
    assert stamp_with_append_time(settings) == []  # nothing left to change
