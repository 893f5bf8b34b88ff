"""A site's folds run centrally: the site's own processors over its mirrored topics.

A central worker for site S reads ``S.<prefix>telemetry`` etc. on the central cluster under
the group ``central-S``: the same code, the same tables, the same commands (``rebuild``,
``verify``, ``state-at``, ``backfill``) as on the site, so the central tables are a fold of
the mirrored log exactly as the site's are of its own. It never runs control: nothing
centrally decides or sends a command.
"""

from __future__ import annotations

from factory_app.mirror.mm2_config import mirrored_topic
from factory_app.mirror.sites import SitesConfig
from factory_app.settings import Settings

# The folds that make sense over a site's history; never ``control`` (or ``shadow``).
CENTRAL_PROCESSORS = ("telemetry-state", "command-ledger", "availability", "kpi-periods")


def central_settings(settings: Settings, sites: SitesConfig, site_name: str) -> Settings:
    """``settings`` turned to site ``site_name``'s mirror on the central cluster."""
    site = sites.site(site_name)
    flat = {**site.fold_settings, "bootstrap": sites.central.bootstrap, "topic_prefix": mirrored_topic(site.name, site.topic_prefix),
            "app_id": f"central-{site.name}", "processors": list(CENTRAL_PROCESSORS),
            "web_port": site.central_web_port, "shadow_plant": None,
            # A mirror re-sends records after a crash (at-least-once): skipped by event id.
            "dedup_horizon": max(sites.mirror.dedup_horizon, site.fold_settings.get("dedup_horizon", 0))}
    if site.plant is not None:
        flat["plant_config"] = site.plant
    return settings.updated(flat)
