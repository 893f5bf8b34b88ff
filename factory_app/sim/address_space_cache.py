"""A simulated PLC's OPC UA server started from a cached standard address space.

asyncua builds the standard address space (about 6,000 nodes) at every server start: 1.3-2.8 s
per PLC here, more on a loaded machine, one PLC after another. asyncua can instead read it
lazily from a shelf it wrote once (``Server.init(shelf_file)``); loaded that way a server is
initialised in under 0.1 s. The shelf is kept per asyncua version in the user's cache
directory (``FACTORY_SIM_CACHE`` to choose another, ``FACTORY_SIM_CACHE=`` for none) and is
built into a temporary directory renamed into place, so two sims starting at once never
read a half-written one. Any problem with the cache falls back to building the address
space as asyncua always does: a cache is never a reason for a PLC not to start.
"""

from __future__ import annotations

import logging
import os
import shelve
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import asyncua
from asyncua import Server, ua

log = logging.getLogger(__name__)

SHELF = "aspace"  # asyncua opens the shelf under this name (dbm adds its own suffixes)


def cache_dir(env: dict[str, str] | None = None) -> Path | None:
    """Where this asyncua version's shelf lives; None when caching is turned off."""
    env = os.environ if env is None else env
    if "FACTORY_SIM_CACHE" in env:
        chosen = env["FACTORY_SIM_CACHE"].strip()
        base = Path(chosen).expanduser() if chosen else None
    else:
        base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "factory"
    return None if base is None else base / f"opcua-address-space-{asyncua.__version__}"


def usable(cache: Path) -> bool:
    """The shelf opens and holds the Server object (a truncated or foreign file does not)."""
    try:
        with shelve.open(str(cache / SHELF), "r") as shelf:
            return ua.NodeId(ua.ObjectIds.Server).to_string() in shelf
    except Exception:  # noqa: BLE001 - any unreadable cache is rebuilt, whatever dbm says
        return False


async def initialised_server(make: Callable[[], Server], cache: Path | None) -> Server:
    """A new server from ``make()``, its address space initialised (from ``cache`` when it can be)."""
    async def initialised(shelf: Path | None = None) -> Server:
        server = make()
        await server.init(shelf)  # no shelf, or none there yet: builds it (then writes the shelf)
        return server

    if cache is None:
        return await initialised()
    if cache.is_dir():
        if usable(cache):
            return await initialised(cache / SHELF)
        log.warning("address-space cache %s is unreadable; building it again", cache)
        shutil.rmtree(cache, ignore_errors=True)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=cache.parent, prefix=f".{cache.name}-"))
    except OSError as exc:
        log.info("no address-space cache (%s); building the standard address space", exc)
        return await initialised()
    try:
        server = await initialised(building / SHELF)
        (building / SHELF).touch()  # asyncua looks for this name; dbm.dumb writes only .dat/.dir
        try:
            os.rename(building, cache)  # atomic: whoever reads it sees all of it
        except OSError:
            pass  # another sim renamed its own first; that one serves
        return server
    except Exception as exc:  # noqa: BLE001 - e.g. a full disk while writing the shelf
        log.warning("could not cache the address space (%s); building it without the cache", exc)
        return await initialised()
    finally:
        shutil.rmtree(building, ignore_errors=True)
