"""The local harness the tests and the benchmarks share: a whole plant of real processes
(``plant``), helpers that talk to a real broker and workers (``helpers``), and an
independent reference fold of the log (``reference_fold``).

Development only: not installed by pyproject.toml and not copied into the image.
Import rules (checked by import-linter, contracts in pyproject.toml): the runtime never
imports it; it imports neither ``tests`` nor ``bench``.
"""
