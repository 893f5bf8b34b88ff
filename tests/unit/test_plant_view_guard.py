"""The plant view answers its own name only, takes writes from its own pages only, folds one
history at a time and warns when it is exposed in clear text (issue 29, item 9). The server is
the real aiohttp app (no worker or broker behind it: these refusals come before either)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from factory_app.config import load_plant
from factory_app.settings import Settings
from factory_app.ui import guard
from factory_app.ui.server import HISTORY, build_app
from harness.plant import REPO

PLANT = load_plant(REPO / "config" / "plant.yaml")


def test_the_names_it_answers_and_the_origins_it_takes_writes_from():
    hosts = guard.allowed_hosts("127.0.0.1", 6080, ["plant.example", "10.0.0.5:6080"])
    for ok in ("127.0.0.1:6080", "localhost:6080", "[::1]:6080", "LOCALHOST:6080", "plant.example",
               "plant.example:6080", "10.0.0.5:6080"):
        assert guard.host_allowed(ok, hosts), ok
    for bad in (None, "", "evil.example:6080", "127.0.0.1:6081", "10.0.0.5", "plant.example.evil:6080"):
        assert not guard.host_allowed(bad, hosts), bad
    assert guard.origin_allowed(None, hosts)  # not a browser
    assert guard.origin_allowed("http://127.0.0.1:6080", hosts) and guard.origin_allowed("https://plant.example", hosts)
    assert not guard.origin_allowed("http://evil.example", hosts) and not guard.origin_allowed("null", hosts)


def test_a_warning_when_reachable_beyond_this_machine_in_clear_text():
    for loopback in ("127.0.0.1", "::1", "[::1]", "localhost", "127.1.2.3"):
        assert guard.exposure_warning(loopback, tls=False) is None, loopback
    for exposed in ("0.0.0.0", "10.0.0.5", "::", "plant.example"):
        warning = guard.exposure_warning(exposed, tls=False)
        assert warning and "clear text" in warning and "FACTORY_UI_TLS_CERT" in warning, exposed
        assert guard.exposure_warning(exposed, tls=True) is None


def with_client(settings: Settings, body):
    async def run():
        app = build_app(settings, PLANT)
        async with TestClient(TestServer(app, host="127.0.0.1", port=settings.web.ui_port)) as client:
            return await body(app, client)
    return asyncio.run(run())


def test_a_request_naming_another_host_or_a_write_from_another_origin_is_refused(tmp_path):
    from factory_app.broker.node import free_port

    settings = Settings(home=tmp_path, ui_port=free_port(), port=free_port())
    own = f"127.0.0.1:{settings.web.ui_port}"

    async def body(app, client):
        rebound = await client.get("/api/overview", headers={"Host": f"evil.example:{settings.web.ui_port}"})
        ours = await client.get("/api/overview", headers={"Host": own})
        foreign = await client.post("/api/mode", json={"asset": "oven-1", "mode": "manual"},
                                    headers={"Host": own, "Origin": "http://evil.example"})
        same = await client.post("/api/mode", json={"asset": "oven-1", "mode": "manual"},
                                 headers={"Host": own, "Origin": f"http://{own}"})
        return rebound.status, (await rebound.json())["error"], ours.status, foreign.status, same.status
    rebound, why, ours, foreign, same = with_client(settings, body)
    assert rebound == 421 and "evil.example" in why and "FACTORY_UI_ALLOWED_HOSTS" in why
    assert ours == 200
    assert foreign == 403
    assert same == 401  # its own page gets as far as the token check


def test_one_history_fold_at_a_time_the_next_gets_429(tmp_path):
    from factory_app.broker.node import free_port

    settings = Settings(home=tmp_path, ui_port=free_port(), port=free_port())

    async def body(app, client):
        async with app[HISTORY]:  # a fold under way
            busy = await client.get("/api/state-at", params={"t": "1700000000"})
            return busy.status, busy.headers.get("Retry-After"), (await busy.json())["error"]
    status, retry, why = with_client(settings, body)
    assert status == 429 and retry == "5" and "another history fold is running" in why
