"""Snapshots of the folds per partition, so history reads cost the span asked for (factory_app/snapshots/store.py)."""
