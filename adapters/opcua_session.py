"""Opening an asyncua client session to an asset's endpoint, with its security settings."""

from __future__ import annotations

import asyncio

from asyncua import Client, ua

from factory_app.config import Asset
from factory_app.private_apis import disable_stale_subscription_check


async def open_client(asset: Asset, timeout: float = 4.0) -> Client:
    """Connect to ``asset.endpoint`` (security and credentials from its config) and return the client."""
    client = Client(asset.endpoint, timeout=timeout, watchdog_intervall=1.0)
    sec = asset.security
    if sec.mode != "None":
        client.application_uri = sec.application_uri
        mode = "Sign" if sec.mode == "Sign" else "SignAndEncrypt"
        parts = [sec.policy, mode, str(sec.certificate), str(sec.private_key)]
        if sec.server_certificate:
            parts.append(str(sec.server_certificate))
        await client.set_security_string(",".join(parts))
    creds = sec.credentials()
    if creds is not None:
        client.set_user(creds[0])
        client.set_password(creds[1])
    try:
        await client.connect()
    except BaseException:  # refused, timed out, or cancelled by a deadline: leave nothing open
        try:
            await asyncio.shield(asyncio.wait_for(client.disconnect(), 2.0))
        except BaseException:
            pass
        raise
    return client


def trust_quiet_subscriptions(client: Client) -> None:
    """Stop asyncua's client from recreating subscriptions that are merely quiet.

    With a publishing interval of 0 (each change pushed at once, the shipped plant's
    setting) a server sends nothing while no monitored value changes: no keep-alives.
    asyncua 2.1's client then judges such a subscription stale after 1 s and recreates
    it, about once a second per quiet subscription ("Subscription N is stale;
    recreating" in the ingest log), and every recreation resends every current value.
    Liveness is still watched: the client reads the server's state every second
    (``watchdog_intervall``) and a lost session ends in a reconnect that subscribes
    again. (asyncua has no public switch for this; the margin it multiplies is 0 here.)
    """
    disable_stale_subscription_check(client)


async def node_ids(client: Client, asset: Asset) -> dict[str, ua.NodeId]:
    """Resolve the asset's configured node strings (in its namespace URI) to NodeIds."""
    ns = await client.get_namespace_index(asset.namespace)
    ids = {r.tag: ua.NodeId(r.node, ns) for r in asset.read}
    ids.update({f"write:{w.tag}": ua.NodeId(w.node, ns) for w in asset.write})
    ids.update({f"method:{m.name}": ua.NodeId(m.node, ns) for m in asset.methods})
    # Each method is called on its configured object, not just on the asset's.
    ids.update({f"method-object:{m.name}": ua.NodeId(m.object or asset.object, ns) for m in asset.methods})
    ids["object"] = ua.NodeId(asset.object, ns)
    return ids


def quality(status: ua.StatusCode | None) -> str:
    """OPC UA status -> telemetry quality."""
    if status is None or status.is_good():
        return "good"
    return "uncertain" if status.is_uncertain() else "bad"
