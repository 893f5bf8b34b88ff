"""``factory worker``: a Faust worker process running the projections."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from factory_app.cli.common import site_option
from factory_app.settings import Settings


@click.command("worker")
@click.option("--web-port", type=int, default=None, help="HTTP port for /state and /metrics.")
@click.option("--data-dir", type=click.Path(), default=None, help="RocksDB state directory of this worker.")
@site_option
@click.pass_obj
def command(settings: Settings, web_port: int | None, data_dir: str | None) -> None:
    """Run one worker; start more with other --web-port/--data-dir to scale by partitions."""
    import logging

    from factory_app.app import create_app
    from factory_app.kafka_clients import ensure_topics
    from factory_app.topics import changelog_specs, create_source_topics

    if web_port is not None:
        settings = settings.updated({"web_port": web_port})
    if data_dir is not None:
        settings = settings.updated({"worker_data": data_dir})
    from factory_app.cli.common import plant_or_fail

    plant = plant_or_fail(settings)
    from factory_app.local_state import DataDirBusy, begin_run, end_run_in_order, lock_data_dir

    try:
        data_lock = lock_data_dir(settings.data_dir)  # noqa: F841 (held until the process ends)
    except DataDirBusy as exc:
        raise click.ClickException(str(exc)) from exc
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = create_app(settings, plant=plant)
    begin_run(settings.data_dir, Path(worker.app.conf.tabledir))
    loop.run_until_complete(create_source_topics(settings))
    loop.run_until_complete(ensure_topics(settings.kafka, changelog_specs(settings, worker.app.tables.values())))
    logging.getLogger("aiokafka").setLevel(logging.INFO)
    from factory_app.bounded_worker import BoundedWorker, bound_crashes

    bound_crashes(worker.app)
    if worker.liveness is not None:
        worker.liveness.start()
    try:
        BoundedWorker(worker.app, loglevel="info", override_logging=False).execute_from_commandline()
    except SystemExit as exc:
        if exc.code in (0, None):  # an orderly stop: buffer flushed, offsets committed
            end_run_in_order(settings.data_dir)
        raise

