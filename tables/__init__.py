"""Projections: pure folds over events, and the Faust tables that hold them."""
