"""``factory ui``: the plant view in a browser; ``factory operator-token``: a credential to send commands from it."""

from __future__ import annotations

import click

from factory_app.settings import Settings


@click.command("ui")
@click.option("--port", type=int, default=None, help="listen here (default FACTORY_UI_PORT, 6080)")
@click.option("--host", default=None, help="listen on this address (default FACTORY_UI_HOST, 127.0.0.1)")
@click.option("--worker", "workers", multiple=True,
              help="a worker's web address (repeatable; default FACTORY_UI_WORKERS, else the local worker); "
                   "the others of its group are found through it")
@click.pass_obj
def command(settings: Settings, port: int | None, host: str | None, workers: tuple[str, ...]) -> None:
    """Serve the plant view: live asset state, commands and results, time travel, operator commands.

    Reading is open to whoever reaches the address (loopback by default); sending a command needs
    an operator token (factory operator-token NAME). Example: factory ui, then open http://127.0.0.1:6080/
    """
    from aiohttp import web

    import logging

    from factory_app.cli.common import plant_or_fail
    from factory_app.ui import guard
    from factory_app.ui.server import build_app, tokens_path

    changes = {k: v for k, v in {"ui_port": port, "ui_host": host, "ui_workers": list(workers) or None}.items()
               if v is not None}
    settings = settings.updated(changes)
    plant = plant_or_fail(settings)
    cert, key = settings.web.ui_tls_cert, settings.web.ui_tls_key
    if (cert is None) != (key is None):
        raise click.ClickException("FACTORY_UI_TLS_CERT and FACTORY_UI_TLS_KEY go together")
    tls = None
    if cert is not None:
        import ssl

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise click.ClickException(f"the plant view's TLS certificate {cert} / key {key}: {exc}") from None
    warning = guard.exposure_warning(settings.web.ui_host, tls is not None)
    if warning:
        logging.getLogger("factory_app.ui").warning(warning)
        click.echo(f"WARNING: {warning}", err=True)
    scheme = "https" if tls else "http"
    click.echo(f"plant view at {scheme}://{settings.web.ui_host}:{settings.web.ui_port}/ "
               f"(operator tokens: {tokens_path(settings)})", err=True)
    web.run_app(build_app(settings, plant), host=settings.web.ui_host, port=settings.web.ui_port,
                ssl_context=tls, print=None, access_log=None, handle_signals=True)


@click.command("operator-token")
@click.argument("name")
@click.pass_obj
def token_command(settings: Settings, name: str) -> None:
    """Make a token for operator NAME (an `operators:` entry of the plant file) and add its digest
    to the tokens file. The token is printed once; only its SHA-256 digest is kept.

    Example: factory operator-token operator
    """
    from factory_app.cli.common import plant_or_fail
    from factory_app.ui.auth import new_token, token_line
    from factory_app.ui.server import tokens_path

    plant = plant_or_fail(settings)
    if not any(o.name == name for o in plant.operators):
        raise click.ClickException(f"{name!r} is not an operator of {settings.plant_config} "
                                   f"(operators: {', '.join(o.name for o in plant.operators) or 'none'})")
    path = tokens_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    with open(path, "a", encoding="utf-8") as out:
        out.write(token_line(name, token))
    path.chmod(0o600)
    click.echo(token)
