"""The sites file, MirrorMaker's properties from it, offset-sync decoding, stall detection,
and the central view of a site: pure parts of factory_app/mirror."""

from __future__ import annotations

import struct

import pytest

from factory_app.config import ConfigError
from factory_app.mirror.central import CENTRAL_PROCESSORS, central_settings
from factory_app.mirror.mm2_config import mm2_properties
from factory_app.mirror.sites import SitesConfig, load_sites
from factory_app.mirror.status import PartitionStatus, SiteStatus, decode_offset_sync
from factory_app.mirror.supervisor import StallWatch
from factory_app.settings import Settings

SITES = """
central: {bootstrap: "127.0.0.1:19392"}
sites:
  - {name: plant-a, bootstrap: "127.0.0.1:19092", plant: plant-a.yaml, central_web_port: 6171}
  - {name: plant-b, bootstrap: "127.0.0.1:19192", topic_prefix: "b.", fold_settings: {window_seconds: 5}}
"""


def props(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines())


def test_sites_file_defaults_and_relative_plant(tmp_path):
    (tmp_path / "sites.yaml").write_text(SITES)
    config = load_sites(tmp_path / "sites.yaml")
    assert [s.name for s in config.sites] == ["plant-a", "plant-b"]
    assert config.site("plant-a").plant == tmp_path / "plant-a.yaml"  # next to the sites file
    assert config.mirror.exactly_once and config.mirror.topics == ("telemetry", "operator-actions", "commands", "command-results")


@pytest.mark.parametrize("doc, problem", [
    ("central: {bootstrap: x:1}\nsites: []", "sites"),
    ("central: {bootstrap: x:1}\nsites: [{name: Plant.A, bootstrap: y:2}]", "name"),
    ("central: {bootstrap: x:1}\nsites: [{name: a, bootstrap: y:2}, {name: a, bootstrap: z:3}]", "unique"),
    ("central: {bootstrap: x:1}\nsites: [{name: central, bootstrap: y:2}]", "central"),
    ("central: {bootstrap: x:1}\nsites: [{name: a, bootstrap: y:2}]\nmirror: {topics: [telemetry-changelog]}",
     "not source topics"),
    ("central: {bootstrap: x:1}\nsites: [{name: a, bootstrap: y:2, colour: red}]", "colour"),
])
def test_bad_sites_files_are_named(tmp_path, doc, problem):
    (tmp_path / "s.yaml").write_text(doc)
    with pytest.raises(ConfigError, match=problem):
        load_sites(tmp_path / "s.yaml")


def test_unknown_site_is_named(tmp_path):
    (tmp_path / "s.yaml").write_text(SITES)
    with pytest.raises(ConfigError, match="plant-c.*plant-a, plant-b"):
        load_sites(tmp_path / "s.yaml").site("plant-c")


def test_mm2_properties_pull_every_site_into_central_only(tmp_path):
    (tmp_path / "s.yaml").write_text(SITES)
    p = props(mm2_properties(load_sites(tmp_path / "s.yaml")))
    assert p["clusters"] == "central, plant-a, plant-b"
    assert p["plant-a->central.enabled"] == "true" and p["central->plant-a.enabled"] == "false"
    assert p["plant-a->central.topics"] == (r"factory\.telemetry, factory\.operator\-actions, factory\.commands, "
                                             r"factory\.command\-results")
    assert p["plant-b->central.topics"].startswith(r"b\.telemetry")
    assert p["offset-syncs.topic.location"] == "target"  # nothing written to a site
    assert p["central.offset.flush.interval.ms"] == "1000"  # a worker setting: the target's key
    assert p["central.exactly.once.source.support"] == "enabled"  # exactly-once by default
    assert p["consumer.isolation.level"] == "read_committed"


def test_exactly_once_by_default_at_least_once_on_request():
    site = {"central": {"bootstrap": "x:1"}, "sites": [{"name": "a", "bootstrap": "y:2"}]}
    eos = props(mm2_properties(SitesConfig.model_validate(site)))
    assert eos["central.exactly.once.source.support"] == "enabled"
    assert not any(k.endswith("transaction.timeout.ms") for k in eos)  # Kafka's 60 s (see mm2_config)
    at_least_once = SitesConfig.model_validate(site | {"mirror": {"exactly_once": False}})
    assert "central.exactly.once.source.support" not in props(mm2_properties(at_least_once))


def test_offset_sync_decoding():
    topic = b"factory.telemetry"
    key = struct.pack(">h", len(topic)) + topic + struct.pack(">i", 3)
    assert decode_offset_sync(key, struct.pack(">qq", 41, 57)) == ("factory.telemetry", 3, 41, 57)


def status(site: str, mirrored: int, end: int | None) -> SiteStatus:
    return SiteStatus(site, end is not None, [PartitionStatus("t", 0, end, mirrored, 1.0)])


def test_a_site_stalls_only_with_records_to_mirror_and_no_progress():
    watch = StallWatch(stall_s=30)
    assert watch.stalled([status("a", 10, 20), status("b", 5, 5)], now=0) == []
    assert watch.stalled([status("a", 10, 20), status("b", 5, 5)], now=29) == []
    assert watch.stalled([status("a", 10, 20), status("b", 5, 5)], now=31) == ["a"]  # b: nothing to mirror
    assert watch.stalled([status("a", 11, 20)], now=40) == []  # moved: the clock starts again
    assert watch.stalled([status("a", 11, None)], now=80) == []  # site unreachable: not the mirror's fault
    watch.reset(100)
    assert watch.stalled([status("a", 11, 20)], now=120) == []


def test_central_view_of_a_site(tmp_path):
    (tmp_path / "s.yaml").write_text(SITES)
    config = load_sites(tmp_path / "s.yaml")
    a = central_settings(Settings(home=tmp_path), config, "plant-a")
    assert a.kafka.bootstrap == "127.0.0.1:19392"
    assert a.topic("telemetry") == "plant-a.factory.telemetry"
    assert a.worker.app_id == "central-plant-a" and a.web.port == 6171
    assert tuple(a.worker.processors) == CENTRAL_PROCESSORS and "control" not in a.worker.processors
    assert a.plant_config == tmp_path / "plant-a.yaml"
    assert a.worker.dedup_horizon == 256  # the mirror's re-sent copies are skipped by event id
    b = central_settings(Settings(home=tmp_path), config, "plant-b")
    assert b.topic("commands") == "plant-b.b.commands" and b.worker.window_seconds == 5
    # Applying the view twice (a child inheriting FACTORY_SITE) changes nothing.
    assert central_settings(a, config, "plant-a") == a


SECURED = """
central: {bootstrap: "127.0.0.1:19392"}
sites:
  - name: plant-a
    bootstrap: "127.0.0.1:19092"
    security: {security_protocol: SASL_SSL, ssl_cafile: certs/ca.pem, sasl_username: mirror,
               sasl_password_file: secrets/plant-a-mirror}
  - {name: plant-b, bootstrap: "127.0.0.1:19192"}
"""


def test_a_secured_link_in_kafkas_names_without_its_password(tmp_path):
    from factory_app.mirror.process import write_secrets

    (tmp_path / "sites.yaml").write_text(SECURED)
    config = load_sites(tmp_path / "sites.yaml")
    site = config.site("plant-a")
    assert site.security.ssl_cafile == tmp_path / "certs" / "ca.pem"  # next to the sites file
    assert site.kafka.security_protocol == "SASL_SSL" and site.kafka.sasl_username == "mirror"
    p = props(mm2_properties(config, secrets_dir=tmp_path / "run" / "secrets"))
    assert p["plant-a.security.protocol"] == "SASL_SSL" and p["plant-a.sasl.mechanism"] == "SCRAM-SHA-512"
    assert p["plant-a.ssl.truststore.type"] == "PEM"
    assert p["plant-a.ssl.truststore.location"] == str(tmp_path / "certs" / "ca.pem")
    assert p["plant-a.sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                             f'username="mirror" password="${{dir:{tmp_path}/run/secrets:plant-a}}";')
    assert p["config.providers"] == "dir"
    assert not any(k.startswith(("plant-b.security", "central.security")) for k in p)  # plain links stay plain
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "plant-a-mirror").write_text("s3cret\n")
    write_secrets(config, tmp_path / "run" / "secrets")
    copy = tmp_path / "run" / "secrets" / "plant-a"
    assert copy.read_text() == "s3cret"  # without the line end: Kafka takes a file's whole content
    assert copy.stat().st_mode & 0o077 == 0 and (tmp_path / "run" / "secrets").stat().st_mode & 0o077 == 0


def test_a_sasl_link_needs_a_user_and_a_password_file(tmp_path):
    (tmp_path / "sites.yaml").write_text(SECURED.replace("sasl_username: mirror,", ""))
    with pytest.raises(ConfigError, match="needs sasl_username and sasl_password_file"):
        load_sites(tmp_path / "sites.yaml")


def test_a_missing_password_file_is_named(tmp_path):
    from factory_app.mirror.process import MirrorConfigError, write_secrets

    (tmp_path / "sites.yaml").write_text(SECURED)
    with pytest.raises(MirrorConfigError, match="password file of plant-a .*plant-a-mirror"):
        write_secrets(load_sites(tmp_path / "sites.yaml"), tmp_path / "run")


def test_waiting_aims_at_the_sites_ends_when_the_wait_began():
    from factory_app.mirror.status import progress_to, targets_of

    first = [SiteStatus("plant-a", True, [PartitionStatus("t", 0, 100, 40, None), PartitionStatus("t", 1, 10, 10, None)]),
             SiteStatus("plant-b", False, [])]
    targets = targets_of(first)
    assert targets == {("plant-a", "t", 0): 100, ("plant-a", "t", 1): 10}
    assert progress_to(first, targets) == {"plant-a": (50, 110), "plant-b": (0, 0)}
    # The live site appended more meanwhile: its target does not move; plant-b answers now.
    later = [SiteStatus("plant-a", True, [PartitionStatus("t", 0, 180, 120, None), PartitionStatus("t", 1, 30, 10, None)]),
             SiteStatus("plant-b", True, [PartitionStatus("t", 0, 5, 0, None)])]
    targets = targets_of(later, targets)
    assert targets[("plant-a", "t", 0)] == 100 and targets[("plant-b", "t", 0)] == 5
    assert progress_to(later, targets) == {"plant-a": (110, 110), "plant-b": (0, 5)}


def test_the_stall_clock_runs_only_once_a_sites_tasks_run():
    watch = StallWatch(stall_s=60, start_s=300)
    watch.started(0)
    # MirrorMaker still starting (plugins, group): a site not moving for minutes is not stalled.
    assert watch.stalled([status("a", 10, 20)], now=5, running=set()) == []
    assert watch.stalled([status("a", 10, 20)], now=200, running=set()) == []
    assert watch.stalled([status("a", 10, 20)], now=210, running={"a"}) == []  # its tasks run from here
    assert watch.stalled([status("a", 10, 20)], now=269, running=set()) == []
    assert watch.stalled([status("a", 10, 20)], now=271, running=set()) == ["a"]  # 60 s since they ran
    assert watch.quiet_s(271) == 266  # the hanging-transaction sweep still sees all the quiet time (from 5)


def test_tasks_that_never_run_restart_after_the_start_window_and_restarts_back_off():
    watch = StallWatch(stall_s=60, start_s=300)
    watch.started(0)
    assert watch.stalled([status("a", 10, 20)], now=299, running=set()) == []
    assert watch.stalled([status("a", 10, 20)], now=300, running=set()) == ["a"]
    watch.restarted_for_no_progress(300, ["a"])
    assert watch.factor == 2
    assert watch.stalled([status("a", 10, 20)], now=899, running=set()) == []  # 2 x 300 s this time
    assert watch.stalled([status("a", 10, 20)], now=900, running=set()) == ["a"]
    for n in range(10):
        watch.restarted_for_no_progress(1000 + n, ["a"])
    assert watch.factor == 8  # capped
    watch.stalled([status("a", 10, 20), status("b", 5, 9)], now=2000, running={"a", "b"})
    watch.stalled([status("a", 10, 20), status("b", 6, 9)], now=2005, running=set())
    assert watch.factor == 8  # another site moving does not undo the back-off for a
    assert watch.stalled([status("a", 11, 20)], now=2010, running=set()) == [] and watch.factor == 1  # a moved


def test_a_mirror_task_status_record_is_read_from_connects_json():
    from factory_app.mirror.tasks import task_state
    key = b"status-task-MirrorSourceConnector-0"
    value = b'{"state":"RUNNING","trace":null,"worker_id":"plant-a->central","generation":3}'
    assert task_state(key, value) == ("status-task-MirrorSourceConnector-0", "RUNNING")
    assert task_state(key, None) == ("status-task-MirrorSourceConnector-0", None)  # deleted
    assert task_state(b"status-connector-MirrorSourceConnector", value) is None  # the connector, not a task
    assert task_state(b"status-task-MirrorHeartbeatConnector-0", value) is None
    assert task_state(key, b"\x00not json") is None and task_state(key, b"[1]") is None
