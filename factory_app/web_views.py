"""HTTP views of a worker's tables (read by ``factory state``)."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from factory_app import metrics
from factory_app.kafka_clients import asset_partition
from tables import keys, values, windows
from tables.asset_mode import with_mode
from tables.definitions import StateTables


def held_by_this_worker(app: faust.App, table: faust.Table, request: Request) -> dict[str, Any]:
    """The values of the ``?assets=a,b`` keys this worker holds, by exact key lookups (a reader
    that knows its assets, e.g. the plant view, never pays for the worker's whole table);
    without ``assets``, every key it holds."""
    wanted = request.query.get("assets")
    if wanted is None:
        return {k: v for k, v in table.items() if v is not None}
    source = table.changelog_topic.get_topic_name()
    mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == source}
    held = {}
    for asset in filter(None, wanted.split(",")):
        key = keys.asset_key(asset)
        # Only an active partition's value: a revoked one's copy may still be on disk.
        if asset_partition(asset, table.partitions) in mine and (value := table.get(key)) is not None:
            held[key] = value
    return held


def register_state_views(app: faust.App, tables: StateTables) -> None:
    """``/state/`` (assets held by this worker; ``?assets=a,b``: of these) and ``/state/{asset}/``
    (routed to its owner)."""

    def shown(asset: str, state: dict) -> dict:
        mode = tables.asset_mode.get(keys.asset_key(asset)) if tables.asset_mode is not None else None
        return with_mode(values.public("asset_state", state), mode)

    @app.page("/state/")
    async def all_assets(self: View, request: Request) -> Response:
        held = held_by_this_worker(app, tables.asset_state, request)
        return self.json({k: shown(k, v) for k, v in held.items()})

    @app.page("/state/{asset}/")
    @app.table_route(table=tables.asset_state, match_info="asset")
    async def one_asset(self: View, request: Request, asset: str) -> Response:
        state = tables.asset_state.get(keys.asset_key(asset))
        if state is None:
            return self.json({"error": f"unknown asset {asset!r}"}, status=404)
        return self.json(shown(asset, state))

    @app.page("/windows/{asset}/")
    @app.table_route(table=tables.asset_state, match_info="asset")
    async def asset_windows(self: View, request: Request, asset: str) -> Response:
        # Exact key lookups through the asset's own tags and window indexes: a prefix scan
        # would also match every asset whose id starts with this one.
        state = tables.asset_state.get(keys.asset_key(asset))
        if state is None:
            return self.json({"error": f"unknown asset {asset!r}"}, status=404)
        out = {}
        for tag in state["tags"]:
            index = windows.unpack_index(tables.tag_windows.get(keys.index_key(asset, tag)))
            for start in index["starts"]:
                key = keys.window_key(asset, tag, start)
                agg = tables.tag_windows.get(key)
                if agg is not None:
                    out[key] = values.public("tag_windows", agg, key)
        return self.json(out)


def register_table_dump(app: faust.App, tables: dict[str, faust.Table]) -> None:
    """``/tables/{name}/``: every key this worker holds in a table, as stored (bookkeeping
    included: for digests and audits against the changelog)."""

    @app.page("/tables/{name}/")
    async def dump(self: View, request: Request, name: str) -> Response:
        table = tables.get(name)
        if table is None:
            return self.json({"error": f"unknown table {name!r}", "tables": sorted(tables)}, status=404)
        return self.json({k: v for k, v in table.items()})


def register_readiness(app: faust.App) -> None:
    """``/ready/``: 200 once tables are recovered and no rebalance is under way, else 503 (also
    from the moment the worker crashed or began to stop).

    Faust serves its views during recovery, so a reader that needs complete
    tables (a health check, ``factory state``, a test) asks here first.
    """

    @app.page("/ready/")
    async def ready(self: View, request: Request) -> Response:
        recovery = app.tables.recovery
        # A crashed or stopping worker folds nothing more: not ready, even while its views still answer.
        down = app.crashed or app.should_stop
        ok = recovery.completed.is_set() and not app.rebalancing and not recovery.in_recovery and not down
        body = {"ready": ok, "rebalancing": app.rebalancing, "in_recovery": recovery.in_recovery,
                "crashed": app.crashed, "stopping": app.should_stop,
                "events_processed": metrics.processed_so_far(),  # since this worker started: progress
                "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in app.assignor.assigned_actives())}
        return self.json(body, status=200 if ok else 503)


def register_command_views(app: faust.App, ledger: faust.Table, counts: faust.Table) -> None:
    """``/commands/recent/?n=20&asset=A``: the newest commands this worker's ledger partitions
    hold (of one asset); ``/commands/counts/``: per asset held here, its commands by status."""

    @app.page("/commands/recent/")
    async def recent(self: View, request: Request) -> Response:
        n = int(request.query.get("n", "20"))
        asset = request.query.get("asset")
        entries = [v for v in ledger.values()
                   if v is not None and "issued_at" in v and (asset is None or v.get("asset_id") == asset)]
        entries.sort(key=lambda e: (e["issued_at"], e["command_id"]), reverse=True)
        return self.json([values.public("command_ledger", e) for e in entries[:n]])

    @app.page("/commands/counts/")
    async def by_status(self: View, request: Request) -> Response:
        held = held_by_this_worker(app, counts, request)
        return self.json({k: values.public("command_counts", v) for k, v in held.items()})


def register_cluster_view(app: faust.App) -> None:
    """``/cluster/``: this worker's URL and every worker's of the group (from the assignment),
    so a reader given one worker finds the others (the plant view reads each one's assets)."""

    @app.page("/cluster/")
    async def cluster(self: View, request: Request) -> Response:
        me = str(app.conf.canonical_url)
        return self.json({"self": me, "workers": sorted(set(app.assignor.tables_metadata()) | {me})})
