"""``factory certs``: a private key and self-signed certificate for an OPC UA application."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click


@click.command("certs")
@click.argument("name")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="certs", show_default=True)
@click.option("--uri", default=None, help="application URI (default urn:factory:NAME); goes into the plant file")
@click.option("--host", default="127.0.0.1", show_default=True, help="host name in the certificate")
@click.option("--role", type=click.Choice(["client", "server"]), default="client", show_default=True)
def command(name: str, out_dir: str, uri: str | None, host: str, role: str) -> None:
    """Write OUT/NAME.pem (key) and OUT/NAME.der (certificate), valid for one year.

    Example: factory certs adapter --uri urn:factory:adapter; factory certs sim --role server
    """
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key, cert = out / f"{name}.pem", out / f"{name}.der"
    use = [ExtendedKeyUsageOID.CLIENT_AUTH] if role == "client" else [ExtendedKeyUsageOID.SERVER_AUTH,
                                                                      ExtendedKeyUsageOID.CLIENT_AUTH]
    app_uri = uri or f"urn:factory:{name}"
    asyncio.run(setup_self_signed_certificate(key, cert, app_uri, host, use,
                                              {"commonName": name, "organizationName": "factory"}))
    key.chmod(0o600)
    click.echo(f"key {key} (mode 600), certificate {cert}, application URI {app_uri}")
