"""The Faust tables that hold the projections (changelog-backed, RocksDB via rocksdict)."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from factory_app.settings import Settings

ROCKSDICT = {"driver": "rocksdict"}


@dataclass
class StateTables:
    """The tables the telemetry-state processor maintains."""

    asset_state: faust.Table  # asset_id -> AssetState (tables.asset_state)
    tag_windows: faust.Table  # window_key / index_key -> Aggregate / [starts] (tables.windows)

    def all(self) -> dict[str, faust.Table]:
        return {"asset_state": self.asset_state, "tag_windows": self.tag_windows}


def state_tables(app: faust.App, settings: Settings, suffix: str = "") -> StateTables:
    """Declare the state tables on ``app``; ``suffix`` names a side-by-side copy (backfills)."""

    def table(name: str) -> faust.Table:
        return app.Table(
            f"{name}{suffix}", default=None, partitions=settings.partitions,
            key_type=str, options=dict(ROCKSDICT), extra_topic_configs=dict(settings.changelog_configs),
            help=f"projection {name}",
        )

    return StateTables(asset_state=table("asset_state"), tag_windows=table("tag_windows"))
