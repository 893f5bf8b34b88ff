"""Each private library attribute the project uses still does its job in the installed versions.

An upgrade that renames or changes one fails here, by name, instead of deep in a live run
(factory_app/private_apis.py lists them; pyproject.toml pins the versions tested).
"""

from __future__ import annotations

import inspect

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from asyncua import Client
from faust.streams import current_event
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from factory_app import private_apis


class _Event:
    def __init__(self, partition: int):
        self.message = type("M", (), {"partition": partition})()


def test_the_current_event_set_outside_a_stream_is_the_one_faust_tables_see():
    event = _Event(3)
    assert current_event() is None
    with private_apis.faust_current_event(event):
        assert current_event() is event
    assert current_event() is None


def test_faust_consumer_state_and_hooks_the_batch_consumer_relies_on_exist(tmp_path):
    app = faust.App("private-apis", broker="kafka://127.0.0.1:9", datadir=str(tmp_path), store="memory://")
    consumer = app.consumer
    missing = [name for name in private_apis.FAUST_CONSUMER_STATE if not hasattr(consumer, name)]
    assert missing == []
    assert private_apis.committed_offset(consumer, TP("t", 0)) is None
    for cls_name, method in private_apis.FAUST_CONSUMER_HOOKS:
        assert callable(getattr(getattr(faust_aiokafka, cls_name), method, None)), f"{cls_name}.{method}"


def test_faust_producer_exposes_its_aiokafka_producer():
    ensure = getattr(faust_aiokafka.Producer, "_ensure_producer", None)
    assert callable(ensure) and list(inspect.signature(ensure).parameters) == ["self"]


@pytest.mark.asyncio
async def test_aiokafka_consumer_fetch_wait_and_metadata_refresh():
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", fetch_max_wait_ms=1234)
    assert consumer._fetch_max_wait_ms == 1234  # the constructor's option is the attribute set below
    private_apis.set_fetch_max_wait(consumer, 20)
    assert consumer._fetch_max_wait_ms == 20
    assert AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", isolation_level="read_committed")._isolation_level \
        == "read_committed"  # the constructor's option is the attribute set_read_committed sets
    private_apis.set_read_committed(consumer)
    assert consumer._isolation_level == "read_committed"
    assert callable(consumer._client.force_metadata_update)  # returns an awaitable


def test_rocksdb_store_writes_by_partition_read_back_through_faust(tmp_path):
    app = faust.App("private-apis-rocks", broker="kafka://127.0.0.1:9", datadir=str(tmp_path), store="rocksdb://")
    table = app.Table("t", partitions=2, value_type=None)
    store = table.data
    raw_key = private_apis.encode_key(store, "k")
    private_apis.partition_db(store, 1).put(raw_key, private_apis.encode_value(store, {"a": 1}))
    private_apis.note_key_partition(store, raw_key, 1)
    assert private_apis.raw_get(store, "k") == {"a": 1}
    assert store["k"] == {"a": 1}  # Faust's own read path finds what was written by partition
    assert private_apis.raw_get(store, "absent") is None


def test_asyncua_client_has_the_stale_check_margin():
    client = Client("opc.tcp://127.0.0.1:4840")
    assert isinstance(client._stale_check_margin, (int, float))
    private_apis.disable_stale_subscription_check(client)
    assert client._stale_check_margin == float("inf")


def test_mode_worker_hooks_the_bounded_stop_overrides_exist():
    """factory_app/bounded_worker.py overrides these: renamed, the bound would silently not arm."""
    from mode import Worker as ModeWorker

    for name, params in (("_schedule_shutdown", ["self", "signal"]), ("on_worker_shutdown", ["self"])):
        method = getattr(ModeWorker, name, None)
        assert callable(method), name
        assert list(inspect.signature(method).parameters) == params, name
    assert "_schedule_shutdown" in inspect.getsource(ModeWorker._on_sigterm)


def test_faust_consumer_member_id_is_none_before_the_consumer_runs():
    app = faust.App("private-apis-member", broker="kafka://127.0.0.1:9")
    assert private_apis.group_member_id(app) is None
    # The path it reads once the worker runs: Faust's consumer -> its thread -> aiokafka's consumer -> coordinator.
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from faust.transport.consumer import ThreadDelegateConsumer

    assert "self._thread = " in inspect.getsource(ThreadDelegateConsumer.__init__)
    assert "self._consumer = " in inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.on_start)
    assert "self._coordinator = " in inspect.getsource(AIOKafkaConsumer.start)
    assert "self.member_id = " in inspect.getsource(GroupCoordinator.__init__)
