"""The simulated PLCs' cached standard address space: built once, then served from; a damaged
or unwritable cache never stops a PLC from starting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncua
from asyncua import Server, ua

from factory_app.sim.address_space_cache import cache_dir, initialised_server, usable


def test_cache_dir_per_asyncua_version_and_switchable(tmp_path):
    version = f"opcua-address-space-{asyncua.__version__}"
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "factory" / version
    assert cache_dir({"FACTORY_SIM_CACHE": str(tmp_path / "c")}) == tmp_path / "c" / version
    assert cache_dir({"FACTORY_SIM_CACHE": ""}) is None
    assert cache_dir({}) == Path.home() / ".cache" / "factory" / version


async def namespaces(server: Server) -> list[str]:
    """A standard node read through the server's own address space."""
    return await server.get_node(ua.NodeId(ua.ObjectIds.Server_NamespaceArray)).read_value()


async def built_then_served(cache: Path) -> tuple[list[str], list[str], bool]:
    first = await initialised_server(Server, cache)
    built = usable(cache)
    second = await initialised_server(Server, cache)
    return await namespaces(first), await namespaces(second), built


def test_the_first_server_builds_the_cache_and_the_next_serves_from_it(tmp_path):
    cache = tmp_path / "cache" / "aspace-v"
    first, second, built = asyncio.run(built_then_served(cache))
    assert built
    assert first == second and first[0] == "http://opcfoundation.org/UA/"
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary directory left


def test_a_damaged_cache_is_built_again(tmp_path):
    cache = tmp_path / "aspace-v"
    cache.mkdir()
    for name in ("aspace", "aspace.dat", "aspace.dir"):
        (cache / name).write_bytes(b"\x00garbage")
    assert not usable(cache)
    server = asyncio.run(initialised_server(Server, cache))
    assert asyncio.run(namespaces(server))[0] == "http://opcfoundation.org/UA/"
    assert usable(cache)


def test_a_cache_directory_that_cannot_be_made_only_costs_the_build(tmp_path):
    blocker = tmp_path / "a-file"  # where the cache's parent directory would go (even root cannot mkdir here)
    blocker.write_text("not a directory")
    server = asyncio.run(initialised_server(Server, blocker / "aspace-v"))
    assert asyncio.run(namespaces(server))[0] == "http://opcfoundation.org/UA/"
    assert blocker.read_text() == "not a directory"


def test_no_cache_when_turned_off():
    server = asyncio.run(initialised_server(Server, None))
    assert asyncio.run(namespaces(server))[0] == "http://opcfoundation.org/UA/"
