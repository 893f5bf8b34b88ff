"""The project's own Prometheus metrics (Faust's sensor adds its own beside them)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_PROCESSED = Counter(
    "factory_events_processed_total", "Events a processor consumed and applied to its tables.",
    ["processor", "type"],
)
DEAD_LETTERS = Counter(
    "factory_dead_letters_total", "Messages sent to the dead-letter topic, by reason.",
    ["processor", "reason"],
)
LATE_SAMPLES = Counter(
    "factory_window_late_samples_total",
    "Samples older than every retained window of their tag (kept in the log and asset state only).",
    ["processor"],
)
