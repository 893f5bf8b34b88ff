"""The fleet page: every site's assets and indicators in the browser (``factory fleet --serve``).

One reader asks the central workers (``factory_app.mirror.fleet.read_fleet``) every
``refresh`` seconds, however many browsers are open; the page fetches the newest answer. It
only reads: nothing here writes to any cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from aiohttp import web

from factory_app.mirror.fleet import read_fleet
from factory_app.mirror.sites import SitesConfig
from factory_app.ui.server import STATIC

log = logging.getLogger(__name__)
_FILES = {"fleet.js": "application/javascript", "style.css": "text/css"}


class FleetReader:
    """The newest answer of the central workers, read in a thread (their client is blocking)."""

    def __init__(self, config: SitesConfig, refresh: float):
        self.config, self.refresh = config, refresh
        self.latest: dict | None = None
        self.read_at: float | None = None

    async def poll(self) -> None:
        while True:
            try:
                self.latest = await asyncio.to_thread(read_fleet, self.config)
                self.read_at = time.time()
            except Exception:  # noqa: BLE001 - a bad round is logged; the page keeps the last answer
                log.exception("reading the fleet failed")
            await asyncio.sleep(self.refresh)

    def answer(self) -> dict:
        sites = [{"site": s.name, "central_web_port": s.central_web_port} for s in self.config.sites]
        return {"read_at": self.read_at, "refresh_s": self.refresh, "sites": sites, **(self.latest or {})}


def build_fleet_app(config: SitesConfig, refresh: float = 5.0) -> web.Application:
    reader = FleetReader(config, refresh)
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=(STATIC / "fleet.html").read_text(encoding="utf-8"), content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _FILES:
            raise web.HTTPNotFound()
        return web.Response(text=(STATIC / name).read_text(encoding="utf-8"), content_type=_FILES[name])

    async def api(request: web.Request) -> web.Response:
        return web.json_response(reader.answer(), dumps=lambda d: json.dumps(d, separators=(",", ":")))

    async def to_page(request: web.Request) -> web.Response:
        raise web.HTTPFound("/fleet")

    app.add_routes([web.get("/", to_page), web.get("/fleet", page), web.get("/api/fleet", api),
                    web.get("/static/{name}", static)])

    async def background(app: web.Application):
        task = asyncio.create_task(reader.poll())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(background)
    return app
