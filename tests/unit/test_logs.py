import json
import logging

from factory_app.logs import configure_logging


def test_json_logs_carry_asset_and_command_ids(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("info", "json")
        logging.getLogger("adapters.command_writer").info(
            "command %s applied", "cmd-1", extra={"asset_id": "oven-1", "command_id": "cmd-1"})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["message"] == "command cmd-1 applied"
        assert (record["asset_id"], record["command_id"], record["level"]) == ("oven-1", "cmd-1", "INFO")
        assert record["logger"] == "adapters.command_writer" and record["time"]
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
