"""The soak benchmark's arithmetic: slopes per hour and interval quantiles of a cumulative histogram."""

from bench.soak import interval_quantile, slope_per_hour, summarize


def test_a_flat_series_has_no_slope_and_a_growing_one_says_how_fast():
    assert slope_per_hour([(m, 100.0) for m in range(20)]) == 0.0
    assert round(slope_per_hour([(m, 100.0 + m * 0.5) for m in range(20)]), 6) == 30.0  # 0.5 MiB/min
    assert slope_per_hour([(0, 1.0), (1, 2.0)]) is None  # too few points to say


def test_the_quantile_of_an_interval_is_taken_from_the_bucket_counts_added_in_it():
    before = {0.05: 10.0, 0.1: 10.0, 1.0: 10.0, float("inf"): 10.0}
    after = {0.05: 19.0, 0.1: 19.0, 1.0: 20.0, float("inf"): 20.0}  # 9 fast, 1 slow in the interval
    assert interval_quantile(before, after, 0.5) == 0.05
    assert interval_quantile(before, after, 0.99) == 1.0
    assert interval_quantile(after, after, 0.5) is None  # nothing observed


def test_the_summary_leaves_out_the_warm_up():
    samples = [{"minute": m, "procs": {"worker": {"rss_mib": 500.0 if m < 10 else 100.0, "fds": 30}},
                "lag": 5, "loop_p50_s": 0.02, "loop_p99_s": 0.1} for m in range(1, 31)]
    worker = summarize(samples)["processes"]["worker"]
    assert worker["rss_mib"]["first"] == 100.0 and worker["rss_mib"]["slope_per_hour"] == 0.0
    assert worker["fds"]["slope_per_hour"] == 0.0
