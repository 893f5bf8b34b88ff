"""The project's own Prometheus metrics (Faust's sensor adds its own beside them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PROCESSED = Counter(
    "factory_events_processed_total", "Events a processor consumed and applied to its tables.",
    ["processor", "type"],
)
SOURCE_RECORDS = Counter(
    "factory_source_records_total",
    "Source records the processor runtime finished with (folded by every processor, or dead-lettered).",
    ["topic"],
)
DEAD_LETTERS = Counter(
    "factory_dead_letters_total", "Messages sent to the dead-letter topic, by reason.",
    ["processor", "reason"],
)
DEAD_LETTERS_UNSENT = Counter(
    "factory_dead_letters_unsent_total",
    "Bad messages skipped without a dead letter (its send failed); each stays in its source topic.",
    ["processor", "reason"],
)
LATE_SAMPLES = Counter(
    "factory_window_late_samples_total",
    "Samples older than every retained window of their tag (kept in the log and asset state only).",
    ["processor"],
)
DUPLICATE_EVENTS = Counter(
    "factory_duplicate_events_total",
    "Events skipped because their asset already absorbed the same event_id (within the dedup horizon).",
    ["processor"],
)
COMMANDS_ISSUED = Counter(
    "factory_commands_issued_total", "Commands the control rules issued, by rule.", ["rule"],
)
SHADOW_COMMANDS_ISSUED = Counter(
    "factory_shadow_commands_issued_total", "Commands a shadow rule set issued to its shadow topic, by rule.", ["rule"],
)
SHADOW_DECISIONS = Counter(
    "factory_shadow_decisions_total",
    "The shadow rule set's decisions against the active rules', per event and rule: same, changed (same "
    "command id, other content), shadow_only, active_only.",
    ["rule", "outcome"],
)
COMMAND_RESULTS = Counter(
    "factory_command_results_total", "Command results the command writer appended, by rule and status.",
    ["rule", "status"],
)
COMMAND_DUPLICATES = Counter(
    "factory_command_duplicates_total", "Commands delivered again after a result existed (not re-applied).",
)
COMMAND_CONFLICTS = Counter(
    "factory_command_conflicts_total",
    "Commands that reused a handled command's id with other content (not applied; a conflict result is appended).",
)
TELEMETRY_APPENDED = Counter(
    "factory_adapter_telemetry_total", "Telemetry events the ingest adapter appended, by asset.", ["asset"],
)
SAMPLES_REFUSED = Counter(
    "factory_adapter_samples_refused_total",
    "PLC samples the ingest adapter could not express as telemetry (unsupported type, NaN/Inf, time outside the contract).",
    ["asset"],
)
CLOCK_STEPS_BACK = Counter(
    "factory_adapter_clock_steps_back_total",
    "Samples whose source time is before the previous sample of the same tag (a PLC clock stepped back); kept.",
    ["asset"],
)
ADAPTER_CONNECTED = Gauge(
    "factory_adapter_connected", "1 while the adapter holds a session to the endpoint.", ["endpoint"],
)
OPCUA_WRITE_ERRORS = Counter(
    "factory_opcua_write_errors_total", "OPC UA writes or method calls the PLC refused or that failed.", ["asset"],
)
WRITER_NO_TIME = Counter(
    "factory_writer_commands_without_time_total",
    "Commands the writer did not send because the time left was under the PLC's observed write round trip (expired).",
    ["asset"],
)
WRITER_RECONNECTS = Counter(
    "factory_writer_reconnect_attempts_total",
    "Failed attempts of the command writer to reach a PLC, each followed by another before the command's deadline.",
    ["asset"],
)
WRITER_LEDGER_ERRORS = Counter(
    "factory_writer_ledger_errors_total",
    "Writes to the command writer's ledger that failed (disk full, I/O error); before a write to a PLC the "
    "command is then not sent",
)
EVENTS_IN = Counter(
    "factory_events_in_total", "Events a worker consumed, by topic and asset.", ["topic", "asset"],
)
EVENTS_OUT = Counter(
    "factory_events_out_total", "Events a process appended, by topic and asset.", ["topic", "asset"],
)
CONSUMER_LAG = Gauge(
    "factory_consumer_lag_messages", "End offset minus committed offset of an assigned partition.",
    ["topic", "partition"],
)
TABLE_KEYS = Gauge(
    "factory_table_keys", "Keys this worker holds in a table (its active partitions; RocksDB's estimate).", ["table"],
)
LOOP_LATENCY = Histogram(
    "factory_control_loop_latency_seconds",
    "Cause event time (OPC UA source timestamp) to the command writer's confirmed write.",
    ["rule"], buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
MACHINE_STATE = Gauge(
    "factory_asset_machine_state", "1 for the machine state an asset last reported, 0 for states it left.",
    ["asset", "state"],
)
REPLAY_CONSUMED = Gauge(
    "factory_replay_offsets_consumed", "Offsets a rebuild / verify / backfill has read so far, per topic.",
    ["operation", "topic"],
)
REPLAY_TARGET = Gauge(
    "factory_replay_offsets_target", "Offsets a rebuild / verify / backfill has to read, per topic.",
    ["operation", "topic"],
)


def processed_so_far() -> int:
    """Source records this process's runtime finished since it started (each once, however many processors
    folded it): a long run's progress."""
    return int(sum(sample.value for metric in SOURCE_RECORDS.collect() for sample in metric.samples
                   if sample.name.endswith("_total")))


# Label values of ids anyone may append (assets, rules) outside the plant file all count under
# this one, so /metrics and the process's memory stay bounded whatever the log holds.
OTHER = "(other)"


def known_or_other(value: str, known: frozenset[str] | set[str]) -> str:
    return value if value in known else OTHER


SNAPSHOT_POINTS = Counter(
    "factory_snapshot_points_total", "Snapshot points the builder wrote (one per partition and interval).",
    ["partition"],
)
SNAPSHOT_LAG = Gauge(
    "factory_snapshot_lag_records",
    "Telemetry records past a partition's newest snapshot point: what a bounded read may read whole.",
    ["partition"],
)
