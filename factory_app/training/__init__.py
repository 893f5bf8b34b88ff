"""Training model-driven rules from the log (needs the ``ml`` extra: scikit-learn)."""
