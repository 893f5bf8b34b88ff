"""The fleet across sites, read from the central workers (one per site): every site's assets
with their state; availability / OEE per site and machine type and across sites, since each
asset was first seen (``availability``) and per event-time period (``kpi_periods``), both rated
from the summed time and parts, never as a mean of ratios; commands issued per period by
outcome (``command_periods``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from factory_app.config import Production, load_plant
from factory_app.mirror.sites import SitesConfig
from factory_app.state_client import StateUnavailable, fetch_json
from tables.availability import figures, totals

KPIS = ("availability", "performance", "quality", "oee")


def fleet_rows(states: dict[str, dict], types: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """site -> asset -> state into rows (site, asset, type, machine, connection, last event time). Pure."""
    return [{"site": site, "asset": asset, "type": types.get(site, {}).get(asset, "?"),
             "machine": (state or {}).get("machine_state"), "connection": (state or {}).get("connection"),
             "last_event_time": (state or {}).get("last_event_time")}
            for site in sorted(states) for asset, state in sorted(states[site].items())]


@dataclass
class _Sums:
    """Summed time per state and parts made by a group of assets, and the commands they were sent."""

    assets: set = field(default_factory=set)
    seconds: Counter = field(default_factory=Counter)
    rated_seconds: Counter = field(default_factory=Counter)  # of the assets with production facts
    made: Counter = field(default_factory=Counter)
    rated: bool = False
    commands: Counter = field(default_factory=Counter)

    def add(self, member: tuple[str, str], seconds: dict[str, float], made: dict[str, float] | None) -> None:
        self.assets.add(member)
        self.seconds.update(seconds)
        if made is not None:
            self.rated = True
            self.rated_seconds.update(seconds)
            self.made.update(made)

    def figures(self) -> dict[str, Any]:
        """The group's figures: availability from every asset's time; performance and quality
        from the rated assets' time and parts; OEE their product."""
        availability = figures(dict(self.seconds), None)["availability"]
        rated = figures(dict(self.rated_seconds), {k: self.made[k] for k in ("good", "bad", "ideal_s")}
                        if self.rated else None)
        parts = (availability, rated["performance"], rated["quality"])
        return {"assets": len(self.assets), "availability": availability, "performance": rated["performance"],
                "quality": rated["quality"], "oee": None if None in parts else parts[0] * parts[1] * parts[2]}


def indicators(availability: dict[str, dict], types: dict[str, dict[str, str]],
               facts: dict[str, dict[str, Production | None]]) -> dict[str, dict[str, dict]]:
    """KPIs per machine type, per site and over all sites ("*"), since each asset was first
    seen: rated from the summed time and parts of each site's availability table (asset ->
    entry; ``facts``: site -> asset -> its production facts). Pure; a KPI no asset has is None."""
    groups: dict[tuple[str, str], _Sums] = {}
    for site, entries in availability.items():
        for asset, entry in entries.items():
            if not entry:
                continue
            kind = types.get(site, {}).get(asset, "?")
            seconds, made = totals(entry, facts.get(site, {}).get(asset))
            for key in ((site, kind), ("*", kind)):
                groups.setdefault(key, _Sums()).add((site, asset), seconds, made)
    out: dict[str, dict[str, dict]] = {}
    for (site, kind), sums in sorted(groups.items()):
        out.setdefault(site, {})[kind] = sums.figures()
    return out


def period_indicators(kpi: dict[str, dict], commands: dict[str, dict],
                      types: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """One row per (site, machine type, period), each site and all sites ("*"): the assets that
    reported, the figures rated from their summed time in each state and what the rated ones
    made, and the commands issued in the period by status. ``kpi``/``commands``: site -> asset ->
    the asset's ``kpi_periods`` / ``command_periods`` entry. Pure."""
    groups: dict[tuple[str, str, float], _Sums] = {}
    ends: dict[float, float] = {}

    def sums(site: str, asset: str, period: dict) -> list[_Sums]:
        kind = types.get(site, {}).get(asset, "?")
        ends[period["start"]] = period["end"]
        return [groups.setdefault((s, kind, period["start"]), _Sums()) for s in (site, "*")]

    for site, entries in kpi.items():
        for asset, entry in entries.items():
            for period in (entry or {}).get("periods", []):
                for group in sums(site, asset, period):
                    group.add((site, asset), period["seconds_in"], period["made"])
    for site, entries in commands.items():
        for asset, entry in entries.items():
            for period in (entry or {}).get("periods", []):
                for group in sums(site, asset, period):
                    group.commands.update(period["counts"])
    return [{"site": site, "type": kind, "start": start, "end": ends[start], **group.figures(),
             "seconds_in": dict(group.seconds), "commands": dict(sorted(group.commands.items()))}
            for (site, kind, start), group in sorted(groups.items(), key=lambda kv: (kv[0][0] == "*", kv[0]))]


def read_fleet(config: SitesConfig, host: str = "127.0.0.1", timeout: float = 5.0) -> dict[str, Any]:
    """Ask each site's central worker for its assets' state and availability table."""
    states: dict[str, dict] = {}
    availability: dict[str, dict] = {}
    kpi: dict[str, dict] = {}
    commands: dict[str, dict] = {}
    types: dict[str, dict[str, str]] = {}
    facts: dict[str, dict[str, Production | None]] = {}
    missing: dict[str, str] = {}
    for site in config.sites:
        base = f"http://{host}:{site.central_web_port}"
        if site.plant is not None:
            assets = load_plant(site.plant).assets
            types[site.name] = {a.id: a.type for a in assets}
            facts[site.name] = {a.id: a.production for a in assets}
        try:
            states[site.name] = fetch_json(base, "/state/", timeout) or {}
            availability[site.name] = _table(base, "availability", timeout)
            kpi[site.name] = _table(base, "kpi_periods", timeout)
            commands[site.name] = _table(base, "command_periods", timeout)
        except StateUnavailable as exc:
            missing[site.name] = str(exc)
    return {"assets": fleet_rows(states, types), "indicators": indicators(availability, types, facts),
            "periods": period_indicators(kpi, commands, types), "unreachable": missing}


def _table(base: str, name: str, timeout: float) -> dict:
    # A worker without the processor answers with an error: no entries.
    table = fetch_json(base, f"/tables/{name}/", timeout)
    return {} if not isinstance(table, dict) or "error" in table else table
