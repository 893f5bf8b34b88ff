"""Replay: recompute projections from the log, compare them, rewind groups, look back in time.

Nothing here emits a Command: folds that run the control rules count the
commands they compute and drop them.
"""
