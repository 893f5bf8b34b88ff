"""HTTP views of a worker's tables (read by ``factory state``)."""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from tables.definitions import StateTables


def register_state_views(app: faust.App, tables: StateTables) -> None:
    """``/state/`` (assets held by this worker) and ``/state/{asset}/`` (routed to its owner)."""

    @app.page("/state/")
    async def all_assets(self: View, request: Request) -> Response:
        return self.json({k: v for k, v in tables.asset_state.items() if v is not None})

    @app.page("/state/{asset}/")
    @app.table_route(table=tables.asset_state, match_info="asset")
    async def one_asset(self: View, request: Request, asset: str) -> Response:
        state = tables.asset_state.get(asset)
        if state is None:
            return self.json({"error": f"unknown asset {asset!r}"}, status=404)
        return self.json(state)

    @app.page("/windows/{asset}/")
    @app.table_route(table=tables.asset_state, match_info="asset")
    async def asset_windows(self: View, request: Request, asset: str) -> Response:
        prefix = f"{asset}|"
        return self.json({k: v for k, v in tables.tag_windows.items()
                          if k.startswith(prefix) and not k.endswith("|index")})
