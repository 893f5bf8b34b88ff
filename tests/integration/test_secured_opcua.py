"""Simulated PLCs that demand Basic256Sha256 and a password; the adapters get in with the right ones only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from asyncua import Client, ua

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from harness.helpers import produce_raw, read_topic
from harness.plant import Plant, make_settings

pytestmark = pytest.mark.integration
CREDS = {"PLC_USER": "operator", "PLC_PASS": "s3cret-line-4"}


def certs(tmp_path, name, role):
    subprocess.run([sys.executable, "-m", "factory_app", "certs", name, "--out", str(tmp_path), "--role", role],
                   check=True, capture_output=True)
    return tmp_path / f"{name}.der", tmp_path / f"{name}.pem"


@pytest.fixture(scope="module")
def secured(kafka, tmp_path_factory):
    home = tmp_path_factory.mktemp("secured")
    server_cert, server_key = certs(home, "sim", "server")
    client_cert, client_key = certs(home, "adapter", "client")

    def secure(doc):
        doc["sim"]["security"] = {"certificate": str(server_cert), "private_key": str(server_key),
                                  "username_env": "PLC_USER", "password_env": "PLC_PASS"}
        for i, asset in enumerate(doc["assets"]):
            asset["security"] = {"mode": "SignAndEncrypt" if i % 2 == 0 else "Sign", "policy": "Basic256Sha256",
                                 "certificate": str(client_cert), "private_key": str(client_key),
                                 "server_certificate": str(server_cert), "application_uri": "urn:factory:adapter",
                                 "username_env": "PLC_USER", "password_env": "PLC_PASS"}
    settings = make_settings(kafka.cfg.bootstrap, home, secure)
    os.environ.update(CREDS)
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim")
        oven = plant.config.asset("oven-1")
        wait_until(lambda: _port_open(oven.endpoint), 120, what="secured sim listening")
        yield plant, (client_cert, client_key)
    finally:
        plant.stop()
        for k in CREDS:
            os.environ.pop(k, None)


def _port_open(endpoint: str) -> bool:
    import socket
    host, port = endpoint.split("//")[1].split("/")[0].split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


async def try_read(asset, *, security: str | None, user: str | None, password: str | None, cert=None):
    client = Client(asset.endpoint, timeout=4)
    if security:
        client.application_uri = "urn:factory:adapter"
        await client.set_security_string(f"Basic256Sha256,{security},{cert[0]},{cert[1]}")
    if user:
        client.set_user(user)
        client.set_password(password)
    async with client:
        ns = await client.get_namespace_index(asset.namespace)
        return await client.get_node(ua.NodeId(f"{asset.object}.temperature", ns)).read_value()


def test_anonymous_and_wrong_password_are_refused(secured):
    plant, cert = secured
    oven = plant.config.asset("oven-1")
    cases = [  # (how the client comes, what the server must answer)
        ({"security": None, "user": None, "password": None}, "No matching endpoints"),  # no plain endpoint
        ({"security": None, "user": "operator", "password": CREDS["PLC_PASS"]}, "No matching endpoints"),
        ({"security": "SignAndEncrypt", "user": None, "password": None, "cert": cert}, "BadIdentityTokenRejected"),
        ({"security": "SignAndEncrypt", "user": "operator", "password": "wrong", "cert": cert}, "BadUserAccessDenied"),
        ({"security": "Sign", "user": "intruder", "password": CREDS["PLC_PASS"], "cert": cert}, "BadUserAccessDenied"),
    ]
    for kwargs, expected in cases:
        with pytest.raises(Exception) as info:
            asyncio.run(try_read(oven, **kwargs))
        assert expected in f"{type(info.value).__name__} {info.value}", kwargs


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_right_credentials_are_let_in(secured, mode):
    plant, cert = secured
    value = asyncio.run(try_read(plant.config.asset("oven-1"), security=mode, user="operator",
                                 password=CREDS["PLC_PASS"], cert=cert))
    assert isinstance(value, float)


def test_adapters_work_against_the_secured_plant(secured):
    plant, _ = secured
    s = plant.settings
    plant.start("ingest", "writer")

    def connected():
        recs = asyncio.run(read_topic(s, events.TELEMETRY))
        evs = [events.decode(r.value) for part in recs.values() for r in part]
        return {e.asset_id for e in evs if isinstance(e, events.StateTransition) and e.to_state == "connected"}
    wait_until(lambda: connected() == {a.id for a in plant.config.assets}, 60, what="every secured asset connected")
    now = time.time()
    cmd = events.Command(event_id="sec-1", command_id="sec-1", asset_id="press-2", event_time=now, action="write",
                         target="run", value=False, cause_event_id="test", rule="operator", deadline=now + 30)
    asyncio.run(produce_raw(s, events.COMMANDS, [(b"press-2", events.encode(cmd))]))

    def result():
        recs = asyncio.run(read_topic(s, events.COMMAND_RESULTS))
        return [events.decode(r.value) for part in recs.values() for r in part]
    results = wait_until(result, 30, what="the command's result")
    assert [(r.command_id, r.status) for r in results] == [("sec-1", "applied")], results


def test_a_man_in_the_middle_gets_no_password_from_a_pinned_session(secured, tmp_path):
    """Issue 29, item 14: with no server certificate in the plant file the client took whatever
    certificate answered. An impostor PLC (a real asyncua server with its own certificate, the
    oven's name and a user check that keeps what it is given) receives the adapter's password
    from an unpinned session; a pinned one (the plant file must pin it now: tests/unit/test_config.py)
    is refused before any identity is sent, and still opens to the real PLC."""
    from asyncua import Server
    from asyncua.server.user_managers import UserManager
    from asyncua.crypto.permission_rules import User, UserRole

    from adapters.opcua_session import open_client
    from factory_app.broker.node import free_port

    plant, _ = secured
    oven = plant.config.asset("oven-1")
    impostor_cert, impostor_key = certs(tmp_path, "impostor", "server")
    received: list[tuple[str, str]] = []

    class Keeps(UserManager):
        def get_user(self, iserver, username=None, password=None, certificate=None):
            received.append((username, password))
            return User(role=UserRole.User)

    async def open_and_close(asset) -> None:
        client = await open_client(asset)
        await client.disconnect()

    async def scenario():
        impostor = Server(user_manager=Keeps())
        await impostor.init()
        endpoint = f"opc.tcp://127.0.0.1:{free_port()}/factory/oven-1"
        impostor.set_endpoint(endpoint)
        await impostor.set_application_uri("urn:factory:sim")
        await impostor.load_certificate(str(impostor_cert))
        await impostor.load_private_key(str(impostor_key))
        impostor.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                                      ua.SecurityPolicyType.Basic256Sha256_Sign])
        impostor.set_identity_tokens([ua.UserNameIdentityToken])
        await impostor.register_namespace(oven.namespace)
        at_impostor = oven.model_copy(update={"endpoint": endpoint})
        async with impostor:
            unpinned = at_impostor.model_copy(update={"security": oven.security.model_copy(
                update={"server_certificate": None})})  # what a plant file could say before
            await open_and_close(unpinned)
            leaked = list(received)
            received.clear()
            with pytest.raises(BaseException) as refused:
                await open_and_close(at_impostor)  # pinned to the real oven's certificate
            return leaked, refused.value
    leaked, refused = asyncio.run(scenario())
    assert leaked == [("operator", CREDS["PLC_PASS"])]  # the danger, shown on the unpinned session
    assert received == [], f"the pinned session sent its identity to the impostor: {received}"
    assert isinstance(refused, (TimeoutError, ua.UaError, ConnectionError)), repr(refused)
    asyncio.run(open_and_close(oven))  # the pinned certificate is the real PLC's own
