"""Logging setup: human-readable text, or JSON lines for log shippers."""

from __future__ import annotations

import logging


def configure_logging(level: str, fmt: str) -> None:
    """Configure the root logger once per process. In JSON, ``extra=`` fields (asset_id,
    command_id, ...) become keys of the object."""
    handler = logging.StreamHandler()
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level",
                                                          "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if level != "debug":
        logging.getLogger("aiokafka").setLevel(logging.WARNING)  # it logs every (re)subscription at INFO
