"""The plant view's web server (aiohttp): pages, their JSON, live updates, time travel, operator commands.

Reads are open (the server binds to loopback by default); the one write, an operator command,
needs a bearer token of an operator of the plant file (``factory_app.ui.auth``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from importlib import resources
from pathlib import Path

from aiohttp import web

from factory_app import events
from factory_app.config import PlantConfig
from factory_app.operator_commands import OperatorRefused, mode_change, operator_command
from factory_app.producer import append, new_producer
from factory_app.settings import Settings
from factory_app.ui import auth, guard
from factory_app.ui.cluster_reader import ClusterReader
from factory_app.ui.command_feed import CommandFeed
from factory_app.ui.hub import Hub, sse
from factory_app.ui.log_lookup import find_event, recent_transitions
from factory_app.ui.presenter import asset_view, trend

log = logging.getLogger(__name__)
STATIC = resources.files("factory_app.ui") / "static"
PAGES = {"overview": "Plant", "asset": "Asset", "commands": "Commands"}
_HEARTBEAT_S = 15.0


def tokens_path(settings: Settings) -> Path:
    return settings.web.ui_tokens_file or settings.home / "operator-tokens"


class PlantView:
    """The view's state: the newest answer of the workers per asset, the command feed, the pages."""

    def __init__(self, settings: Settings, plant: PlantConfig):
        self.settings, self.plant = settings, plant
        seeds = settings.web.ui_workers or [f"http://{settings.web.host}:{settings.web.port}"]
        self.reader = ClusterReader(seeds, [a.id for a in plant.assets])
        self.feed = CommandFeed(settings)
        self.hub = Hub()
        self.latest: dict[str, dict] = {}  # asset -> {"state", "counts", "worker"}
        self.polled_at: float | None = None
        self._sent: dict[str, str] = {}  # asset -> the tile last published (JSON), to send changes only
        self._workers_sent: tuple | None = None
        self._producer = None
        self._producer_lock = asyncio.Lock()

    # -- reading ---------------------------------------------------------------------------

    def tiles(self, now: float) -> list[dict]:
        return [asset_view(a, self.latest.get(a.id), now) for a in self.plant.assets]

    def overview(self) -> dict:
        now = time.time()
        return {"now": now, "assets": self.tiles(now), "workers": self.reader.workers,
                "unreachable": self.reader.unreachable, "polled_at": self.polled_at, "history": False}

    async def poll(self) -> None:
        """Ask the workers every ``ui_refresh`` seconds; publish the tiles that changed."""
        while True:
            try:
                snapshot = await self.reader.snapshot()
                self.latest.update(snapshot)  # an asset missing this round keeps its last answer
                self.polled_at = time.time()
                for tile in self.tiles(self.polled_at):
                    body = json.dumps({k: v for k, v in tile.items() if k != "age_s"}, sort_keys=True)
                    if self._sent.get(tile["asset_id"]) != body:
                        self._sent[tile["asset_id"]] = body
                        self.hub.publish("asset", tile)
                workers = (list(self.reader.workers), dict(self.reader.unreachable))
                if workers != self._workers_sent:  # every page gets it on a change, not every round
                    self._workers_sent = workers
                    self.hub.publish("workers", {"workers": workers[0], "unreachable": workers[1],
                                                 "now": self.polled_at})
            except Exception:
                log.exception("polling the workers failed")
            await asyncio.sleep(self.settings.web.ui_refresh)

    async def follow_commands(self) -> None:
        while True:
            try:
                await self.feed.run(lambda entry: self.hub.publish("command", entry))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following the commands failed; again in 2 s")
                await asyncio.sleep(2.0)

    # -- writing ---------------------------------------------------------------------------

    async def send(self, event: events.AnyEvent, topic: str = events.COMMANDS) -> None:
        async with self._producer_lock:
            if self._producer is None:
                producer = new_producer(self.settings)
                await producer.start()
                self._producer = producer
        await (await append(self._producer, self.settings, topic, event))

    async def close(self) -> None:
        await self.reader.close()
        if self._producer is not None:
            await self._producer.stop()


def _json(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers,
                             dumps=lambda d: json.dumps(d, separators=(",", ":")))


# At most this many reads of the log on behalf of pages at a time (each opens a consumer and
# scans): a history fold (time travel: a snapshot interval, or the whole log without snapshots), and the asset pages' bounded scans.
HISTORY_FOLDS, LOG_SCANS = 1, 2
HISTORY = web.AppKey("history", asyncio.Semaphore)
SCANS = web.AppKey("scans", asyncio.Semaphore)


def build_app(settings: Settings, plant: PlantConfig) -> web.Application:
    view = PlantView(settings, plant)
    hosts = guard.allowed_hosts(settings.web.ui_host, settings.web.ui_port, settings.web.ui_allowed_hosts)

    @web.middleware
    async def only_its_own_name(request: web.Request, handler):
        # A page of another site whose name was made to resolve to this address (DNS rebinding)
        # names that site in Host; one posting here from another origin names it in Origin.
        if not guard.host_allowed(request.headers.get("Host"), hosts):
            return _json({"error": f"Host {request.headers.get('Host')!r} is not this plant view's "
                                   "(FACTORY_UI_ALLOWED_HOSTS lists other names it may be reached by)"}, 421)
        if request.method not in ("GET", "HEAD") and not guard.origin_allowed(request.headers.get("Origin"), hosts):
            return _json({"error": f"a write from origin {request.headers.get('Origin')!r} is refused"}, 403)
        return await handler(request)

    app = web.Application(middlewares=[only_its_own_name])
    history = asyncio.Semaphore(HISTORY_FOLDS)
    scans = asyncio.Semaphore(LOG_SCANS)
    app[HISTORY], app[SCANS] = history, scans
    template = (STATIC / "page.html").read_text(encoding="utf-8")

    def page(name: str):
        async def handler(request: web.Request) -> web.Response:
            html = template.replace("{{page}}", name).replace("{{title}}", PAGES[name])
            return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})
        return handler

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ("app.js", "style.css"):
            raise web.HTTPNotFound()
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        return web.Response(text=(STATIC / name).read_text(encoding="utf-8"), content_type=kind)

    async def no_icon(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def api_overview(request: web.Request) -> web.Response:
        return _json(view.overview())

    async def api_asset(request: web.Request) -> web.Response:
        asset_id = request.match_info["asset"]
        asset = plant.asset(asset_id)
        if asset is None:
            return _json({"error": f"unknown asset {asset_id!r}"}, 404)
        windows, transitions = {}, []
        with contextlib.suppress(Exception):  # a worker mid-rebalance: the page shows what it has
            if asset_id in view.latest:
                windows = await view.reader.windows(view.latest[asset_id]["worker"], asset_id)
        busy = scans.locked()  # at the limit: the page gets the rest now, transitions on its next visit
        if not busy:
            with contextlib.suppress(Exception):
                async with scans:
                    transitions = await recent_transitions(settings, asset_id)
        entry = view.latest.get(asset_id)  # read after the waits above: the newest answer
        return _json({"now": time.time(), "asset": asset_view(asset, entry, time.time()),
                      "trends": {t.tag: trend(windows, t.tag) for t in asset.read},
                      "transitions": transitions, "transitions_busy": busy,
                      "commands": view.feed.recent(50, asset=asset_id),
                      "writes": [{"tag": w.tag, "type": w.type, "min": w.min, "max": w.max} for w in asset.write],
                      "methods": [{"name": m.name, "args": m.arg_types} for m in asset.methods]})

    async def api_commands(request: web.Request) -> web.Response:
        q = request.query
        return _json(view.feed.recent(int(q.get("n", "200")), asset=q.get("asset") or None,
                                      rule=q.get("rule") or None, status=q.get("status") or None))

    async def api_command(request: web.Request) -> web.Response:
        entry = view.feed.get(request.match_info["command_id"])
        return _json(entry) if entry else _json({"error": "not among the recent commands"}, 404)

    async def api_event(request: web.Request) -> web.Response:
        q = request.query
        topic = {"telemetry": events.TELEMETRY, "results": events.COMMAND_RESULTS,
                 "commands": events.COMMANDS}.get(q.get("topic", "telemetry"))
        try:
            near, asset = float(q["near"]), q["asset"]
        except (KeyError, ValueError):
            return _json({"error": "give asset, near (epoch seconds) and topic"}, 400)
        if topic is None or plant.asset(asset) is None:
            return _json({"error": "unknown topic or asset"}, 400)
        if scans.locked():
            return _json({"error": "the log is being read for other pages; try again"}, 429, {"Retry-After": "2"})
        async with scans:
            found = await find_event(settings, topic, asset, request.match_info["event_id"], near)
        return _json(found) if found else _json({"error": "not found near that time"}, 404)

    async def api_live(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await resp.prepare(request)
        queue = view.hub.join()
        try:
            await resp.write(sse("snapshot", view.overview()))
            while view.hub.joined(queue):
                try:
                    message = await asyncio.wait_for(queue.get(), _HEARTBEAT_S)
                except asyncio.TimeoutError:
                    message = b": heartbeat\n\n"
                await resp.write(message)
        except ConnectionResetError:
            pass  # the page went away
        finally:
            view.hub.leave(queue)
        return resp

    async def api_state_at(request: web.Request) -> web.StreamResponse:
        """The overview as it was at ``t`` (epoch seconds or ISO-8601), folded from the log with
        ``factory state-at``'s fold; progress events while it reads, then the result. One fold at
        a time: another request meanwhile gets 429."""
        from factory_app.replay.rewind import parse_time

        try:
            at = parse_time(request.query["t"])
        except Exception as exc:
            return _json({"error": f"t: {exc}"}, 400)
        if history.locked():  # each fold reads the log on this process's loop (all of it without snapshots): one at a time
            return _json({"error": "another history fold is running; try again when it has ended"}, 429,
                         {"Retry-After": "5"})
        async with history:
            return await fold_history(request, at)

    async def fold_history(request: web.Request, at: float) -> web.StreamResponse:
        from factory_app.replay.state_at import Reads, state_at

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await resp.prepare(request)
        reads = Reads()  # its plan (records to read, from the snapshots on) is known before the first record
        last_sent = [0.0]

        def progress(tp, consumed: int) -> None:
            if time.monotonic() - last_sent[0] > 0.2:
                last_sent[0] = time.monotonic()
                queue.put_nowait(sse("progress", {"done": reads.read, "total": max(reads.planned, reads.read)}))

        queue: asyncio.Queue = asyncio.Queue()
        fold = asyncio.create_task(state_at(settings, at, None, None, progress, reads))
        try:
            while not fold.done():
                # Woken by a progress event or by the fold's end, whichever is first: a poll of the
                # queue with a timeout (0.5 s) added up to that much to every answer.
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({fold, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    await resp.write(getter.result())
                else:
                    getter.cancel()
            states = fold.result()
            tiles = [asset_view(a, {"state": states.get(a.id), "counts": {}, "worker": "log"}
                                if a.id in states else None, at) for a in plant.assets]
            await resp.write(sse("progress", {"done": reads.read, "total": max(reads.planned, reads.read)}))
            await resp.write(sse("result", {"at": at, "assets": tiles, "history": True}))
        except ConnectionResetError:
            pass  # the page went away
        except Exception as exc:
            await resp.write(sse("failed", {"error": f"{type(exc).__name__}: {exc}"}))
        finally:
            fold.cancel()  # a page that left before the fold ended: stop reading the log for it
        return resp

    async def api_whoami(request: web.Request) -> web.Response:
        who = auth.operator_for(request.headers.get("Authorization"), tokens_path(settings))
        return _json({"operator": who}) if who else _json({"error": "no valid operator token"}, 401)

    async def api_send(request: web.Request) -> web.Response:
        who = auth.operator_for(request.headers.get("Authorization"), tokens_path(settings))
        if who is None:
            return _json({"error": "an operator token is needed to send commands (Authorization: Bearer ...)"}, 401)
        try:
            body = await request.json()
            args = body.get("args") or []
            value = body.get("value")
            command = operator_command(plant, who, str(body["asset"]), str(body.get("action", "write")),
                                       str(body["target"]), None if value is None else str(value),
                                       tuple(str(a) for a in args), now=time.time())
        except OperatorRefused as exc:
            return _json({"error": str(exc)}, 403)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            return _json({"error": f"a command needs asset, action, target and value/args: {exc}"}, 400)
        await view.send(command)
        log.info("operator %s sent %s %s.%s", who, command.action, command.asset_id, command.target,
                 extra={"asset_id": command.asset_id, "command_id": command.command_id, "rule": who})
        return _json({"command_id": command.command_id, "operator": who, "asset": command.asset_id,
                      "target": command.target, "value": command.value, "args": list(command.args)}, 202)

    async def api_mode(request: web.Request) -> web.Response:
        """Hand an asset to the operator (manual: the rules stand aside and the writer refuses
        their commands, interlocks act) or back
        (auto): the same mode change as ``factory mode``, with the operator's name in the log."""
        who = auth.operator_for(request.headers.get("Authorization"), tokens_path(settings))
        if who is None:
            return _json({"error": "an operator token is needed to change a mode (Authorization: Bearer ...)"}, 401)
        try:
            body = await request.json()
            asset, mode = str(body["asset"]), str(body["mode"])
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            return _json({"error": f"a mode change needs asset and mode: {exc}"}, 400)
        if plant.asset(asset) is None or mode not in ("auto", "manual"):
            return _json({"error": "unknown asset, or a mode other than auto/manual"}, 400)
        try:
            event = mode_change(plant, who, asset, mode, str(body.get("reason", "")), now=time.time())
        except OperatorRefused as exc:  # a token whose operator left the plant file, or another asset
            return _json({"error": str(exc)}, 403)
        await view.send(event, events.OPERATOR_ACTIONS)
        log.info("operator %s set %s to %s", who, asset, mode, extra={"asset_id": asset})
        return _json({"asset": asset, "mode": mode, "operator": who, "event_id": event.event_id}, 202)

    app.add_routes([
        web.get("/", page("overview")), web.get("/asset/{asset}", page("asset")),
        web.get("/commands", page("commands")), web.get("/static/{name}", static),
        web.get("/favicon.ico", no_icon),
        web.get("/api/overview", api_overview), web.get("/api/asset/{asset}", api_asset),
        web.get("/api/commands", api_commands), web.get("/api/commands/{command_id}", api_command),
        web.get("/api/events/{event_id}", api_event), web.get("/api/live", api_live),
        web.get("/api/state-at", api_state_at), web.get("/api/whoami", api_whoami),
        web.post("/api/commands", api_send), web.post("/api/mode", api_mode),
    ])

    async def background(app: web.Application):
        tasks = [asyncio.create_task(view.poll()), asyncio.create_task(view.follow_commands())]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await view.close()

    app.cleanup_ctx.append(background)
    return app
