"""Who the plant view answers: requests naming its own address only (no DNS rebinding), writes
from its own pages only, and a warning when it is reachable beyond this machine in clear text.
Pure functions of the settings and a request's headers; ``server.build_app`` applies them."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(ui_host: str, ui_port: int, extra: list[str]) -> frozenset[str]:
    """Every ``Host`` header value the view answers (lower case): its own address, loopback's
    names, and ``extra`` (FACTORY_UI_ALLOWED_HOSTS; a name without a port is allowed on the
    view's port and bare)."""
    names = {ui_host, *LOOPBACK_NAMES}
    out = {f"{n}:{ui_port}" for n in names} | set(names)
    for entry in extra:
        out.add(entry)
        if ":" not in entry.strip("[]") or entry.endswith("]"):
            out.add(f"{entry}:{ui_port}")
    return frozenset(h.lower() for h in out)


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    return host is not None and host.lower() in allowed


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    """A browser's write comes from one of the view's own pages (no Origin: not a browser)."""
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() in allowed


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def exposure_warning(ui_host: str, tls: bool) -> str | None:
    """What to tell whoever starts the view where operators' tokens would cross the network in clear."""
    if tls or is_loopback(ui_host):
        return None
    return (f"the plant view listens on {ui_host} without TLS: operators' bearer tokens and the plant's "
            "data cross the network in clear text; set FACTORY_UI_TLS_CERT and FACTORY_UI_TLS_KEY")
