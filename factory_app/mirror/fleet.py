"""The fleet across sites, read from the central workers (one per site): every site's assets
with their state; availability / OEE per site and machine type and across sites, since each
asset was first seen and per event-time period (``kpi_periods``, rated from the summed time and
parts, never as a mean of ratios); commands issued per period by outcome (``command_periods``)."""

from __future__ import annotations

from collections import Counter
from statistics import fmean
from typing import Any

from factory_app.config import load_plant
from factory_app.mirror.sites import SitesConfig
from factory_app.state_client import StateUnavailable, fetch_json
from tables.availability import figures

KPIS = ("availability", "performance", "quality", "oee")


def fleet_rows(states: dict[str, dict], types: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """site -> asset -> state into rows (site, asset, type, machine, connection, last event time). Pure."""
    return [{"site": site, "asset": asset, "type": types.get(site, {}).get(asset, "?"),
             "machine": (state or {}).get("machine_state"), "connection": (state or {}).get("connection"),
             "last_event_time": (state or {}).get("last_event_time")}
            for site in sorted(states) for asset, state in sorted(states[site].items())]


def indicators(availability: dict[str, dict], types: dict[str, dict[str, str]]) -> dict[str, dict[str, dict]]:
    """Mean KPIs per machine type, per site and over all sites ("*"), from each site's
    availability table (asset -> entry). Pure; a KPI no asset has yet is None."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for site, entries in availability.items():
        for asset, entry in entries.items():
            if not entry:
                continue
            kind = types.get(site, {}).get(asset, "?")
            groups.setdefault((site, kind), []).append(entry)
            groups.setdefault(("*", kind), []).append(entry)
    out: dict[str, dict[str, dict]] = {}
    for (site, kind), entries in sorted(groups.items()):
        kpis = {k: _mean([e.get(k) for e in entries]) for k in KPIS}
        out.setdefault(site, {})[kind] = {"assets": len(entries), **kpis}
    return out


def period_indicators(kpi: dict[str, dict], commands: dict[str, dict],
                      types: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """One row per (site, machine type, period), each site and all sites ("*"): the assets that
    reported, the figures rated from their summed time in each state and what the rated ones
    made, and the commands issued in the period by status. ``kpi``/``commands``: site -> asset ->
    the asset's ``kpi_periods`` / ``command_periods`` entry. Pure."""
    groups: dict[tuple[str, str, float], dict[str, Any]] = {}

    def group(site: str, asset: str, period: dict) -> list[dict[str, Any]]:
        kind = types.get(site, {}).get(asset, "?")
        return [groups.setdefault((s, kind, period["start"]), {
            "end": period["end"], "assets": set(), "seconds": Counter(), "rated_seconds": Counter(),
            "made": Counter(), "rated": False, "commands": Counter()}) for s in (site, "*")]

    for site, entries in kpi.items():
        for asset, entry in entries.items():
            for period in (entry or {}).get("periods", []):
                for g in group(site, asset, period):
                    g["assets"].add((site, asset))
                    g["seconds"].update(period["seconds_in"])
                    if period["made"] is not None:
                        g["rated"] = True
                        g["rated_seconds"].update(period["seconds_in"])
                        g["made"].update(period["made"])
    for site, entries in commands.items():
        for asset, entry in entries.items():
            for period in (entry or {}).get("periods", []):
                for g in group(site, asset, period):
                    g["commands"].update(period["counts"])
    rows = []
    for (site, kind, start), g in sorted(groups.items(), key=lambda kv: (kv[0][0] == "*", kv[0])):
        availability = figures(dict(g["seconds"]), None)["availability"]
        rated = figures(dict(g["rated_seconds"]), {k: g["made"][k] for k in ("good", "bad", "ideal_s")}
                        if g["rated"] else None)
        parts = (availability, rated["performance"], rated["quality"])
        rows.append({"site": site, "type": kind, "start": start, "end": g["end"], "assets": len(g["assets"]),
                     "availability": availability, "performance": rated["performance"], "quality": rated["quality"],
                     "oee": None if None in parts else parts[0] * parts[1] * parts[2],
                     "seconds_in": dict(g["seconds"]), "commands": dict(sorted(g["commands"].items()))})
    return rows


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def read_fleet(config: SitesConfig, host: str = "127.0.0.1", timeout: float = 5.0) -> dict[str, Any]:
    """Ask each site's central worker for its assets' state and availability table."""
    states: dict[str, dict] = {}
    availability: dict[str, dict] = {}
    kpi: dict[str, dict] = {}
    commands: dict[str, dict] = {}
    types: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    for site in config.sites:
        base = f"http://{host}:{site.central_web_port}"
        if site.plant is not None:
            types[site.name] = {a.id: a.type for a in load_plant(site.plant).assets}
        try:
            states[site.name] = fetch_json(base, "/state/", timeout) or {}
            availability[site.name] = _table(base, "availability", timeout)
            kpi[site.name] = _table(base, "kpi_periods", timeout)
            commands[site.name] = _table(base, "command_periods", timeout)
        except StateUnavailable as exc:
            missing[site.name] = str(exc)
    return {"assets": fleet_rows(states, types), "indicators": indicators(availability, types),
            "periods": period_indicators(kpi, commands, types), "unreachable": missing}


def _table(base: str, name: str, timeout: float) -> dict:
    # A worker without the processor answers with an error: no entries.
    table = fetch_json(base, f"/tables/{name}/", timeout)
    return {} if not isinstance(table, dict) or "error" in table else table
