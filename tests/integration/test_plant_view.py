"""The plant view in a real browser (Debian's chromium, driven by Playwright) against a real plant:
simulated PLCs, broker, worker, both adapters and ``factory ui``, each its own process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from factory_app.ui import auth
from harness.browser import chromium_browser
from harness.helpers import get_json, produce_raw, read_topic, wait_ready
from harness.plant import Plant, make_settings, opc_call, wait_plcs_ready

pytestmark = pytest.mark.integration

TOKEN = "test-token-of-the-operator"
OVEN_TECH_TOKEN = "test-token-of-an-operator-scoped-to-oven-1"
FORMER_TOKEN = "test-token-of-an-operator-no-longer-in-the-plant-file"
WAIT_MS = 60_000  # a condition on the page; generous for a loaded CI machine


def without_interlocks(doc) -> None:
    """The interlocks stop conveyors on their own (a stale downstream on a loaded machine trips
    them, as it must): the machine states these tests change are then theirs alone."""
    doc["rules"] = [r for r in doc["rules"] if r["kind"] != "interlock"]


def with_a_scoped_operator(doc) -> None:
    without_interlocks(doc)
    doc["operators"].append({"name": "oven-tech", "targets": ["oven-1.heater_power"]})


@pytest.fixture(scope="module")
def plant(kafka, tmp_path_factory):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path_factory.mktemp("view"), with_a_scoped_operator)
    # "former" has a token line but no entry in the plant file (an operator who left).
    (settings.home / "operator-tokens").write_text("# test operators\n" + auth.token_line("operator", TOKEN)
                                                   + auth.token_line("oven-tech", OVEN_TECH_TOKEN)
                                                   + auth.token_line("former", FORMER_TOKEN))
    p = Plant(settings, load_plant(settings.plant_config))
    try:
        p.start("sim", "worker", "ingest", "writer", "ui")
        wait_plcs_ready(p)
        wait_ready(settings, child=p.children["worker"])
        base = ui_url(p)
        # Every asset answered by a worker, so the page has something to show.
        wait_until(lambda: _all_assets_known(base), 120, what="the plant view knowing every asset",
                   abort=lambda: not p.children["ui"].alive())
        yield p
    finally:
        p.stop()


def at_the_machine(plant: Plant, asset: str, method: str) -> None:
    """Call a simulator method on the PLC itself (its own thread: Playwright's loop holds this one)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, opc_call(plant, asset, method)).result(timeout=30)


def off_the_page_loop(coro):
    """Run ``coro`` on its own thread: Playwright's sync API keeps an event loop on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def ui_url(plant: Plant) -> str:
    return f"http://127.0.0.1:{plant.settings.web.ui_port}"


def _all_assets_known(base: str) -> bool:
    try:
        return all(t["worker"] for t in get_json(f"{base}/api/overview")["assets"])
    except Exception:
        return False


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        assert not errors, f"the page raised: {errors}"
    finally:
        context.close()


def post(url: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_the_overview_shows_every_asset_and_which_worker_answered(plant, page):
    from playwright.sync_api import expect

    page.goto(ui_url(plant) + "/")
    tiles = page.locator(".tile")
    expect(tiles).to_have_count(6, timeout=WAIT_MS)
    for asset in plant.config.assets:
        tile = page.locator(f"#tile-{asset.id}")
        expect(tile.locator(".connection")).to_have_text("connected", timeout=WAIT_MS)
        expect(tile.locator(".worker")).to_have_text(f"http://127.0.0.1:{plant.settings.web.port}")
    expect(page.locator("#tile-oven-1 tr[data-tag=temperature] .value")).to_contain_text("°C")
    expect(page.locator("#mode")).to_have_text("LIVE")


def test_a_state_change_in_a_plc_appears_without_reload_and_time_travel_shows_the_state_before(plant, page):
    from playwright.sync_api import expect

    page.goto(ui_url(plant) + "/")
    tile = page.locator("#tile-conveyor-1")
    expect(tile.locator(".machine-state")).to_have_text("running", timeout=WAIT_MS)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    before = time.time()
    at_the_machine(plant, "conveyor-1", "inject_jam")
    expect(tile.locator(".machine-state")).to_have_text("jammed", timeout=WAIT_MS)
    expect(tile).to_have_attribute("data-health", "fault")
    expect(tile.locator(".faults")).to_contain_text("jammed set")
    assert page.evaluate("window.__sameDocument === true"), "the page updated in place, without a reload"

    # The plant as it was just before the jam: folded from the log, marked as history.
    page.fill("#at", f"{before:.3f}")
    page.click("#show-at")
    expect(page.locator("#mode")).to_contain_text("HISTORY", timeout=WAIT_MS)
    expect(tile.locator(".machine-state")).to_have_text("running")
    expect(page.locator("body")).to_have_class("history")
    page.click("#golive")
    expect(page.locator("#mode")).to_have_text("LIVE")
    expect(tile.locator(".machine-state")).to_have_text("jammed")


def test_operator_commands_need_a_token_and_show_their_result(plant, page):
    from playwright.sync_api import expect

    base = ui_url(plant)
    at_the_machine(plant, "conveyor-2", "inject_jam")
    page.goto(f"{base}/asset/conveyor-2")
    expect(page.locator("#asset-tile .machine-state")).to_have_text("jammed", timeout=WAIT_MS)
    page.select_option("#send-target", "call:clear_jam")

    # Without credentials: refused, and nothing appended (the command log gains no operator command).
    page.click("#send-button")
    expect(page.locator("#send-status")).to_contain_text("refused (HTTP 401)", timeout=WAIT_MS)
    assert post(f"{base}/api/commands", {"asset": "conveyor-2", "action": "call", "target": "clear_jam"},
                token="not-a-token")[0] == 401
    page.click("#mode-manual")
    expect(page.locator("#mode-status")).to_contain_text("refused (HTTP 401)", timeout=WAIT_MS)
    assert not [c for c in get_json(f"{base}/api/commands?rule=operator") if c["asset_id"] == "conveyor-2"]

    # Signed in: the command goes through the writer and its result comes back to the page.
    page.fill("#token", TOKEN)
    page.click("#signin")
    expect(page.locator("#operator")).to_have_text("operator", timeout=WAIT_MS)
    page.click("#send-button")
    expect(page.locator("#send-status .result")).to_have_text("applied", timeout=WAIT_MS)
    expect(page.locator("#asset-tile .machine-state")).not_to_have_text("jammed", timeout=WAIT_MS)
    sent = [c for c in get_json(f"{base}/api/commands?rule=operator") if c["asset_id"] == "conveyor-2"]
    assert [(c["target"], c["status"]) for c in sent] == [("clear_jam", "applied")], "in the log, under its operator"
    row = page.locator(f"tr[data-command='{sent[0]['command_id']}']")
    expect(row.locator(".status")).to_have_text("applied")
    # The operator takes the asset over from the rules and hands it back: both in the log, live on the page.
    page.click("#mode-manual")
    expect(page.locator("#asset-tile")).to_contain_text("mode manual", timeout=WAIT_MS)
    page.click("#mode-auto")
    expect(page.locator("#asset-tile")).to_contain_text("mode auto", timeout=WAIT_MS)


def test_the_commands_log_filters_and_links_each_command_to_its_cause_and_result(plant, page):
    from playwright.sync_api import expect

    base = ui_url(plant)
    page.goto(base + "/commands")
    expect(page.locator("#commands tr[data-command]").first).to_be_visible(timeout=WAIT_MS)  # the rules act
    page.fill("#f-asset", "oven-1")
    page.fill("#f-status", "applied")
    first = page.locator("#commands tr[data-command]").first
    expect(first).to_contain_text("oven-1-thermostat", timeout=WAIT_MS)
    shown = page.eval_on_selector_all("#commands tr[data-command]",
                                      "rows => rows.map(r => [r.cells[1].textContent, r.querySelector('.status').textContent])")
    assert shown and set(map(tuple, shown)) == {("oven-1", "applied")}, shown
    command_id = first.get_attribute("data-command")
    cause = get_json(base + first.locator("a", has_text="cause").get_attribute("href"))
    result = get_json(base + first.locator("a", has_text="result").get_attribute("href"))
    assert cause["event"]["type"] == "telemetry" and cause["event"]["asset_id"] == "oven-1"
    assert (result["event"]["type"], result["event"]["command_id"], result["event"]["status"]) == \
           ("command_result", command_id, "applied")
    assert events.command_id("oven-1-thermostat", cause["event"]["event_id"], "oven-1.heater_power") == command_id, \
        "the cause is the event the command was derived from"


def test_a_command_id_reused_with_other_content_is_shown_beside_the_first(plant, page):
    """Before: the ledger kept the last Command under an id, so a forgery reusing a real command's
    id showed its own value beside the real one's "applied", and nothing said so."""
    import msgspec
    from playwright.sync_api import expect

    from factory_app.operator_commands import operator_command

    base = ui_url(plant)
    # An asset no other test sends operator commands to (they count theirs).
    real = operator_command(plant.config, "operator", "press-2", "write", "maintenance_request", "true", now=time.time())
    forged = msgspec.structs.replace(real, event_id="forged-" + real.event_id, value=False)

    def append(cmd):
        off_the_page_loop(produce_raw(plant.settings, events.COMMANDS, [(cmd.asset_id.encode(), events.encode(cmd))]))
    append(real)
    wait_until(lambda: (get_json(f"{base}/api/commands/{real.command_id}") or {}).get("status") == "applied", 60,
               interval=1, what="the real command applied")
    append(forged)
    page.goto(base + "/commands")
    row = page.locator(f"tr[data-command='{real.command_id}']")
    expect(row.locator(".conflict")).to_contain_text("id reused by 1 other command, not applied", timeout=WAIT_MS)
    expect(row.locator(".status")).to_have_text("applied")
    assert "maintenance_request true" in row.inner_text()
    assert "press-2.maintenance_request false" in row.locator(".conflict").get_attribute("title")
    shown = get_json(f"{base}/api/commands/{real.command_id}")
    assert (shown["value"], [c["value"] for c in shown["conflicting"]]) == (True, [False])


def test_a_mode_change_is_refused_outside_the_operators_scope(plant):
    """Before: any token line (even one of an operator gone from the plant file) could put any asset
    in manual, and the thermostat and auto-reset stood aside."""
    base = ui_url(plant)
    refused = [post(f"{base}/api/mode", {"asset": "oven-2", "mode": "manual"}, FORMER_TOKEN),
               post(f"{base}/api/mode", {"asset": "conveyor-1", "mode": "manual"}, OVEN_TECH_TOKEN)]
    assert [code for code, _ in refused] == [403, 403], refused
    assert "not an operator of the plant file" in refused[0][1]["error"]
    assert "may not change the mode of conveyor-1" in refused[1][1]["error"]
    code, body = post(f"{base}/api/mode", {"asset": "oven-1", "mode": "auto", "reason": "scope test"}, OVEN_TECH_TOKEN)
    assert code == 202, body
    accepted = body["event_id"]

    def modes_in_log() -> list[tuple[str, str]] | None:
        found = off_the_page_loop(read_topic(plant.settings, events.OPERATOR_ACTIONS))
        changes = [events.decode(r.value) for recs in found.values() for r in recs]
        changes = [e for e in changes if isinstance(e, events.ModeChange)]
        if not any(e.event_id == accepted for e in changes):
            return None  # the accepted one is not in yet
        return [(e.asset_id, e.operator) for e in changes]
    in_log = wait_until(modes_in_log, 60, interval=2, what="the accepted mode change in the log")
    assert ("oven-1", "oven-tech") in in_log
    assert ("conveyor-1", "oven-tech") not in in_log and not [a for a, who in in_log if who == "former"], \
        "a refused mode change was appended"


def test_no_endpoint_changes_anything_without_a_token(plant):
    from factory_app.settings import Settings
    from factory_app.ui.server import build_app

    app = build_app(Settings(), plant.config)
    writes = [(r.method, r.resource.canonical) for r in app.router.routes() if r.method not in ("GET", "HEAD")]
    assert writes, "the view has write endpoints to check"
    for method, path in writes:
        req = urllib.request.Request(ui_url(plant) + path, data=b"{}", method=method,
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code == 401, f"{method} {path} answered {refused.value.code} without a token"


def test_with_two_workers_every_asset_is_shown_with_the_worker_that_holds_it(plant):
    """Run last in this module: a second worker takes half the partitions. The view was told
    only of the first worker; it finds the second through /cluster/."""
    from factory_app.broker.node import free_port
    from factory_app.children import Child

    second = plant.settings.updated({"web_port": free_port(), "worker_data": str(plant.settings.home / "worker-b")})
    child = Child("worker-b", ["worker"], plant.settings.home / "logs", env=second.to_env())
    try:
        mine = f"http://127.0.0.1:{second.web.port}"

        def split() -> set[str] | None:
            try:
                tiles = get_json(ui_url(plant) + "/api/overview")["assets"]
            except Exception:
                return None
            workers = {t["worker"] for t in tiles}
            return workers if len(tiles) == 6 and mine in workers and len(workers) == 2 else None

        def held_where_shown() -> bool:
            # Each asset shown as answered by the worker whose /state/ holds it (asked together:
            # on a loaded machine the group may still be moving partitions between the two).
            try:
                tiles = get_json(ui_url(plant) + "/api/overview")["assets"]
                return all(t["asset_id"] in get_json(f"{t['worker']}/state/") for t in tiles)
            except Exception:
                return False

        workers = wait_until(split, 180, what="assets shown from both workers", abort=lambda: not child.alive())
        assert workers == {mine, f"http://127.0.0.1:{plant.settings.web.port}"}
        wait_until(held_where_shown, 60, what="every asset shown as held by the worker that holds it")
    finally:
        child.stop(timeout=15)


def test_factory_command_sends_as_an_operator_and_prints_the_result(plant):
    def factory(*args):
        return subprocess.run([sys.executable, "-m", "factory_app", *args], capture_output=True, text=True,
                              timeout=120, env={**os.environ, **plant.settings.to_env()})

    sent = factory("command", "send", "conveyor-1", "speed_setpoint", "1.25")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "applied, read back 1.25: speed_setpoint = 1.25"
    beyond = factory("command", "send", "conveyor-1", "speed_setpoint", "7")  # over its max: the writer refuses
    assert beyond.returncode == 1 and beyond.stdout.startswith("rejected"), beyond.stdout + beyond.stderr
    unknown = factory("command", "send", "conveyor-1", "warp_drive", "1")
    assert unknown.returncode != 0 and "not in the asset's write list" in unknown.stderr
    stranger = factory("command", "send", "conveyor-1", "speed_setpoint", "1", "--as", "mallory")
    assert stranger.returncode != 0 and "'mallory' is not an operator" in stranger.stderr

    def in_the_view():
        ledger = get_json(ui_url(plant) + "/api/commands?rule=operator&asset=conveyor-1")
        return sorted((c["value"], c["status"]) for c in ledger)
    wait_until(lambda: in_the_view() == [(1.25, "applied"), (7.0, "rejected")], 30,
               what="both operator commands in the view's command log")
