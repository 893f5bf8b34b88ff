"""The fleet across sites, read from the central workers (one per site): every site's assets
with their state, and availability / OEE per site and machine type and across sites."""

from __future__ import annotations

from statistics import fmean
from typing import Any

from factory_app.config import load_plant
from factory_app.mirror.sites import SitesConfig
from factory_app.state_client import StateUnavailable, fetch_json

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


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def read_fleet(config: SitesConfig, host: str = "127.0.0.1", timeout: float = 5.0) -> dict[str, Any]:
    """Ask each site's central worker for its assets' state and availability table."""
    states: dict[str, dict] = {}
    availability: dict[str, dict] = {}
    types: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    for site in config.sites:
        base = f"http://{host}:{site.central_web_port}"
        if site.plant is not None:
            types[site.name] = {a.id: a.type for a in load_plant(site.plant).assets}
        try:
            states[site.name] = fetch_json(base, "/state/", timeout) or {}
            table = fetch_json(base, "/tables/availability/", timeout)
            availability[site.name] = {} if not isinstance(table, dict) or "error" in table else table
        except StateUnavailable as exc:
            missing[site.name] = str(exc)
    return {"assets": fleet_rows(states, types), "indicators": indicators(availability, types), "unreachable": missing}
