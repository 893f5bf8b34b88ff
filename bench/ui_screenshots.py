"""The README's pictures of the plant view, from a real plant: ``python -m bench.ui_screenshots``.

Runs the whole local plant (simulated PLCs, worker, both adapters, ``factory ui``) on a
private broker, jams conveyor-2 at the machine (a fault to show; its interlock stops
conveyor-1), lets an operator set oven-2's heater from the asset page, and writes
docs/img/plant-overview.png and docs/img/plant-asset.png.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import REPO, bench_broker, log_stderr
from factory_app.config import load_plant
from factory_app.ui import auth
from harness.browser import chromium_browser
from harness.helpers import wait_ready
from harness.plant import Plant, make_settings, opc_call, wait_plcs_ready

OUT = REPO / "docs" / "img"
TOKEN = "screenshot-operator-token"


def main() -> None:
    from playwright.sync_api import expect

    OUT.mkdir(parents=True, exist_ok=True)
    with bench_broker() as (broker, root):
        (root / "plant").mkdir()
        settings = make_settings(broker.cfg.bootstrap, root / "plant")
        (settings.home / "operator-tokens").write_text(auth.token_line("operator", TOKEN))
        plant = Plant(settings, load_plant(settings.plant_config))
        try:
            plant.start("sim", "worker", "ingest", "writer", "ui")
            wait_plcs_ready(plant)
            wait_ready(settings, child=plant.children["worker"])
            base = f"http://127.0.0.1:{settings.web.ui_port}"
            with chromium_browser() as browser:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(base + "/")
                for asset in plant.config.assets:
                    expect(page.locator(f"#tile-{asset.id} .connection")).to_have_text("connected", timeout=120_000)
                log_stderr("plant connected; letting the ovens heat and windows fill for 40 s")
                time.sleep(40)  # for the picture: trends need some windows (not a wait for a condition)
                with ThreadPoolExecutor(1) as pool:
                    pool.submit(asyncio.run, opc_call(plant, "conveyor-2", "inject_jam")).result(30)
                expect(page.locator("#tile-conveyor-2")).to_have_attribute("data-health", "fault", timeout=60_000)
                page.screenshot(path=str(OUT / "plant-overview.png"), full_page=True)
                page.goto(base + "/asset/oven-2")
                page.fill("#token", TOKEN)
                page.click("#signin")
                expect(page.locator("#operator")).to_have_text("operator", timeout=30_000)
                page.fill("#send-value", "25")
                page.click("#send-button")
                expect(page.locator("#send-status .result")).to_have_text("applied", timeout=60_000)
                page.screenshot(path=str(OUT / "plant-asset.png"), full_page=True)
                log_stderr(f"wrote {OUT / 'plant-overview.png'} and {OUT / 'plant-asset.png'}")
        finally:
            plant.stop()


if __name__ == "__main__":
    main()
