"""A secured broker (SASL_SSL, SCRAM users per role, ACLs enforced): the plant runs with its own
rights only, each role is refused where it does not belong, and a client that cannot get in is
told why (wrong password, untrusted CA, expired certificate) naming the broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys

import pytest
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import SecretStr

from factory_app import events
from factory_app.acls import ROLES
from factory_app.broker.security import ADMIN, SecurityFiles, issue, make_authority
from factory_app.children import wait_until
from factory_app.config import load_plant
from factory_app.kafka_clients import broker_ids_async
from factory_app.kafka_security import KafkaAccessError
from factory_app.producer import start_producer
from harness.helpers import read_topic
from harness.plant import Plant, make_settings, wait_plcs_ready
from tests.conftest import REPO, started_broker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory):
    broker = started_broker(tmp_path_factory.mktemp("secure-kafka"), secure=True, users=ROLES)
    try:
        yield broker
    finally:
        broker.stop(timeout=20)


def as_user(settings, broker, user: str):
    """``settings`` with ``user``'s identity on the secured broker."""
    return settings.updated({"sasl_username": user,
                             "sasl_password_file": broker.cfg.security_files.password_file(user)})


def identity(broker, user: str = ADMIN) -> dict:
    files = broker.cfg.security_files
    return dict(security_protocol="SASL_SSL", ssl_cafile=files.ca_cert, sasl_username=user,
                sasl_password_file=files.password_file(user))


def factory(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factory_app", *args], capture_output=True, text=True,
                          env=settings.to_env() | {"PATH": "/usr/bin:/bin"}, timeout=120)


@pytest.fixture(scope="module")
def deployment(secure_kafka, tmp_path_factory):
    """A plant's topics on the secured broker (created by the admin) and its roles' ACLs applied
    with ``factory acls apply``."""
    admin = make_settings(secure_kafka.cfg.bootstrap, tmp_path_factory.mktemp("secure-plant"),
                          **identity(secure_kafka))
    applied = factory(admin, "acls", "apply")
    assert applied.returncode == 0, applied.stderr
    assert "6 principals" in applied.stdout
    return admin


def test_the_plant_runs_with_nothing_but_its_own_rights(secure_kafka, deployment):
    roles = {role: as_user(deployment, secure_kafka, role) for role in ("worker", "ingest", "writer")}
    plant = Plant(deployment, load_plant(deployment.plant_config), role_settings=roles)
    try:
        plant.start("sim", "worker", "ingest", "writer")
        wait_plcs_ready(plant)
        replay = as_user(deployment, secure_kafka, "replay")

        def applied():
            results = [events.decode(r.value) for part in asyncio.run(read_topic(replay, events.COMMAND_RESULTS)).values()
                       for r in part]
            return [r for r in results if r.status == "applied"] or None

        # Telemetry in (ingest), a rule's command out (worker), applied to the PLC (writer), read
        # back by a replay principal: the whole loop, each process with its own rights only.
        results = wait_until(applied, 180, interval=1, what="a command applied on the secured plant")
        assert results[0].asset_id
        for child in plant.children.values():
            assert child.alive(), f"{child.name} exited"
    finally:
        plant.stop()


async def _append(settings, topic: str) -> None:
    producer = await start_producer(settings)
    try:
        await (await producer.send(settings.topic(topic), b"{}", key=b"oven-1"))
    finally:
        await producer.stop()


@pytest.mark.parametrize(("role", "allowed", "refused"), [
    ("ingest", events.TELEMETRY, events.COMMANDS),          # a compromised adapter cannot command a machine
    ("worker", events.COMMANDS, events.COMMAND_RESULTS),    # nor can a worker forge what a machine did
    ("writer", events.COMMAND_RESULTS, events.COMMANDS),
    ("operator", events.COMMANDS, events.COMMAND_RESULTS),
    ("operator", events.OPERATOR_ACTIONS, events.TELEMETRY),  # the plant view's rights cannot forge a reading
    ("ingest", events.TELEMETRY, events.OPERATOR_ACTIONS),    # nor the adapter's take the rules off an asset
    ("replay", None, events.COMMANDS),                      # replays only read
    ("mirror", None, events.TELEMETRY),                     # the central mirror only reads the site
])
def test_each_role_is_refused_by_the_broker_where_it_does_not_belong(secure_kafka, deployment, role, allowed,
                                                                       refused):
    settings = as_user(deployment, secure_kafka, role)
    if allowed is not None:
        asyncio.run(_append(settings, allowed))  # its own rights work...
        with pytest.raises(TopicAuthorizationFailedError):  # ...and the broker refuses the rest
            asyncio.run(_append(settings, refused))
    else:  # a principal that may write nowhere cannot even start an (idempotent) producer
        with pytest.raises(KafkaAccessError, match=f"do not allow principal '{role}'.*ClusterAuthorizationFailed"):
            asyncio.run(_append(settings, refused))


def test_a_wrong_password_is_named_with_the_broker_and_the_principal(secure_kafka, deployment):
    settings = deployment.updated({"sasl_password": SecretStr("not-the-password"), "sasl_password_file": None})
    with pytest.raises(KafkaAccessError) as refused:
        asyncio.run(broker_ids_async(settings.kafka))
    message = str(refused.value)
    assert secure_kafka.cfg.bootstrap in message and "'admin'" in message and "wrong password" in message
    cli = factory(settings, "topics")  # the CLI says the same in one line
    assert cli.returncode == 1 and "wrong password" in cli.stderr and "Traceback" not in cli.stderr


def test_a_broker_signed_by_an_unknown_ca_is_named(secure_kafka, deployment, tmp_path):
    other = SecurityFiles(tmp_path / "other-ca")
    make_authority(other)
    settings = deployment.updated({"ssl_cafile": other.ca_cert})
    with pytest.raises(KafkaAccessError) as refused:
        asyncio.run(broker_ids_async(settings.kafka))
    assert secure_kafka.cfg.bootstrap in str(refused.value)
    assert "not signed by a CA this client trusts" in str(refused.value)
    assert str(other.ca_cert) in str(refused.value)


def test_mutual_tls_takes_a_valid_client_certificate_and_names_an_expired_one(secure_kafka, deployment, tmp_path):
    files = secure_kafka.cfg.security_files
    valid, old = (tmp_path / "ingest.pem", tmp_path / "ingest.key"), (tmp_path / "old.pem", tmp_path / "old.key")
    issue(files, "ingest", *valid, server=False)
    issue(files, "ingest", *old, server=False,
          not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3), days=1)
    ingest = as_user(deployment, secure_kafka, "ingest")
    with_valid = ingest.updated({"ssl_certfile": valid[0], "ssl_keyfile": valid[1]})
    asyncio.run(_append(with_valid, events.TELEMETRY))
    with pytest.raises(KafkaAccessError) as refused:
        asyncio.run(_append(ingest.updated({"ssl_certfile": old[0], "ssl_keyfile": old[1]}), events.TELEMETRY))
    assert f"FACTORY_SSL_CERTFILE={old[0]} expired at" in str(refused.value)
    assert secure_kafka.cfg.bootstrap in str(refused.value)


@pytest.mark.long  # a broker of its own through the CLI; the module's secured broker covers the rest
def test_factory_broker_start_runs_a_secured_broker_and_says_how_to_connect(tmp_path):
    from factory_app.broker.node import free_port
    from factory_app.settings import Settings

    port = free_port()
    settings = Settings(bootstrap=f"127.0.0.1:{port}", home=tmp_path)
    env = settings.to_env() | {"FACTORY_BROKER_SECURE": "1", "FACTORY_CONTROLLER_PORT": str(free_port()),
                               "FACTORY_KAFKA_JARS": str(REPO / ".factory")}
    run = lambda *args, extra={}: subprocess.run([sys.executable, "-m", "factory_app", *args], capture_output=True,
                                                 text=True, env=env | extra | {"PATH": "/usr/bin:/bin"}, timeout=180)
    try:
        started = run("broker", "start")
        assert started.returncode == 0, started.stderr
        assert "FACTORY_SECURITY_PROTOCOL=SASL_SSL" in started.stdout
        files = SecurityFiles(tmp_path / "broker" / "security")
        admin = {"FACTORY_SECURITY_PROTOCOL": "SASL_SSL", "FACTORY_SSL_CAFILE": str(files.ca_cert),
                 "FACTORY_SASL_USERNAME": "admin", "FACTORY_SASL_PASSWORD_FILE": str(files.password_file("admin"))}
        assert run("broker", "status").returncode == 0
        assert run("topics", extra=admin).returncode == 0
        # Without credentials the broker does not answer a plain client.
        assert run("topics", extra={"FACTORY_SECURITY_PROTOCOL": "PLAINTEXT"}).returncode == 1
        assert set(ROLES) <= set(files.users())
    finally:
        run("broker", "stop")


def test_a_site_is_mirrored_over_sasl_ssl_by_its_mirror_principal(secure_kafka, deployment, kafka, tmp_path):
    """The central MirrorMaker pulls a secured site as the site's ``mirror`` role (SCRAM over
    TLS, the site's CA), into a plain central cluster; its properties hold no password."""
    import yaml

    from factory_app.mirror.process import MirrorMaker
    from factory_app.mirror.sites import load_sites
    from factory_app.mirror.status import mirror_status
    from factory_app.settings import Settings
    from tests.conftest import JAR_HOME

    ingest = as_user(deployment, secure_kafka, "ingest")
    sent = [events.Telemetry(event_id=f"m{i}", asset_id=f"oven-{i % 3}", event_time=1_800_000_000.0 + i,
                             tag="temperature", value=float(i)) for i in range(60)]
    asyncio.run(_append_events(ingest, sent))
    files = secure_kafka.cfg.security_files
    sites_file = tmp_path / "sites.yaml"
    sites_file.write_text(yaml.safe_dump({
        "central": {"bootstrap": kafka.cfg.bootstrap},
        "sites": [{"name": "secured", "bootstrap": secure_kafka.cfg.bootstrap, "topic_prefix": deployment.kafka.topic_prefix,
                   "security": {"security_protocol": "SASL_SSL", "ssl_cafile": str(files.ca_cert),
                                "sasl_username": "mirror", "sasl_password_file": str(files.password_file("mirror"))}}],
        "mirror": {"topics": ["telemetry"]}}))
    config = load_sites(sites_file)
    mirror = MirrorMaker(config, tmp_path / "mirror", JAR_HOME, die_with_parent=True)
    central = Settings(bootstrap=kafka.cfg.bootstrap, topic_prefix=f"secured.{deployment.kafka.topic_prefix}")
    replay = as_user(deployment, secure_kafka, "replay")
    here = asyncio.run(read_topic(replay, events.TELEMETRY))
    mirror.start()
    try:
        def arrived():
            try:
                there = asyncio.run(read_topic(central, events.TELEMETRY))
            except Exception:  # noqa: BLE001 - the mirror has not created the central topic yet
                return None
            return there if sum(map(len, there.values())) >= sum(map(len, here.values())) else None
        there = wait_until(arrived, 180, interval=1, what="the secured site's telemetry mirrored centrally")
        assert {p: [(r.key, r.value) for r in recs] for p, recs in there.items() if recs} == \
            {p: [(r.key, r.value) for r in recs] for p, recs in here.items() if recs}
        # Offset syncs follow the records at MirrorMaker's next commit: wait for them, read as the
        # mirror principal too.
        def synced():
            (status,) = asyncio.run(mirror_status(config))
            return status if status.reachable and status.lag == 0 else None
        wait_until(synced, 60, interval=1, what="the secured site's offset syncs showing lag 0")
        properties = mirror.files.properties.read_text()
        assert "secured.security.protocol = SASL_SSL" in properties
        assert files.password("mirror") not in properties  # read from the mirror's secrets directory
        assert mirror.pid() is not None, mirror.files.log_file.read_text()[-3000:]
    finally:
        mirror.stop()


async def _append_events(settings, sent: list) -> None:
    producer = await start_producer(settings)
    try:
        for event in sent:
            await producer.send(settings.topic(events.TELEMETRY), events.encode(event), key=event.asset_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
