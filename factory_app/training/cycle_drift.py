"""Train a cycle-drift model from a span of the log: the asset's cycles, read with the rule's own fold.

The model is scikit-learn's ``MinCovDet`` (a robust location and scale: a few stuck or
faulty cycles in the training span do not widen what counts as normal), fitted with a
fixed seed on the mean cycle time of every ``window`` consecutive cycles. Chosen over an
online learner (river) on purpose: a rule's model is an artifact that is reviewed, tried
with ``factory whatif`` and promoted, not one that moves under the live rule. Only the
fitted numbers are stored (JSON), with what they were trained on, so the rule evaluates
without scikit-learn and an auditor can read the file.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from factory_app import events
from factory_app.kafka_clients import asset_partition
from factory_app.rules.cycle_drift import ARTIFACT_KIND, observe
from factory_app.settings import Settings
from factory_app.snapshots.span import SpanPlan, plan_span, span_events

MIN_SAMPLES = 20


class TrainingError(ValueError):
    """The span does not hold enough of the asset's cycles to train on."""


async def cycle_windows(settings: Settings, asset: str, window: int, counter: str, state_tag: str,
                        since: float | None, until: float | None, progress=None,
                        span: SpanPlan | None = None) -> tuple[list[float], dict]:
    """Mean cycle time of every ``window`` consecutive cycles of ``asset`` caused in [since, until),
    and the log span read (the asset's partition, its offsets). ``span``: the read planned by
    ``cycle_span`` (from the newest snapshot before ``since``; the default)."""
    topic = settings.topic(events.TELEMETRY)
    partition = asset_partition(asset, settings.kafka.partitions)
    span = span or await cycle_span(settings, asset, since, until)
    memory: dict = {}
    recent: list[float] = []
    means: list[float] = []
    first = last = None
    async for rec, event in span_events(settings, span, progress=progress):
        if event.asset_id != asset:
            continue
        first = rec.offset if first is None else first
        last = rec.offset
        cycle, memory = observe(memory, event, counter, state_tag)
        if cycle is None:
            continue
        recent = (recent + [cycle])[-window:]
        if len(recent) == window:
            means.append(sum(recent) / window)
    read = span.describe().get(str(partition), {})
    out = {"topic": topic, "partition": partition, "first_offset": first, "last_offset": last,
           "end_offset": read.get("end_offset"), "read_from_offset": read.get("start_offset"),
           "from": since, "to": until}
    return means, out


async def cycle_span(settings: Settings, asset: str, since: float | None, until: float | None,
                     full: bool = False) -> SpanPlan:
    """The read of ``asset``'s partition for [since, until) (``full``: from offset 0)."""
    return await plan_span(settings, since, until, [asset_partition(asset, settings.kafka.partitions)], full)


def fit(means: list[float], seed: int, quantile: float, min_spread_s: float = 0.01) -> dict:
    """Robust location and variance of the window means, and the squared-distance alarm threshold.
    The variance is at least ``min_spread_s`` squared: a clock's jitter is not a drift."""
    import numpy as np
    from scipy.stats import chi2
    from sklearn.covariance import MinCovDet

    if len(means) < MIN_SAMPLES:
        raise TrainingError(f"only {len(means)} cycle windows in the span; at least {MIN_SAMPLES} are needed "
                            "(a longer span, or a smaller --window)")
    try:
        model = MinCovDet(random_state=seed).fit(np.asarray(means, dtype=float).reshape(-1, 1))
    except ValueError as exc:  # most of the span has one and the same cycle time
        raise TrainingError(f"the cycle time barely varies in the span ({exc}); nothing to learn a spread from")
    variance = max(float(model.covariance_[0][0]), min_spread_s ** 2)
    return {"location": float(model.location_[0]), "variance": variance,
            "threshold_d2": float(chi2.ppf(quantile, df=1))}


def code_version() -> str:
    try:
        package = version("factory-control")
    except PackageNotFoundError:
        package = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{package}+{commit}" if commit else package


def artifact(asset: str, window: int, counter: str, state_tag: str, seed: int, quantile: float,
             numbers: dict, samples: int, span: dict) -> dict:
    import sklearn

    return {"kind": ARTIFACT_KIND, "asset": asset, "window": window, **numbers,
            "feature": f"mean cycle time (s) of {window} consecutive cycles of {counter} while {state_tag}=running",
            "trained_on": {**span, "samples": samples},
            "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "params": {"seed": seed, "quantile": quantile, "estimator": "sklearn.covariance.MinCovDet",
                       "scikit_learn": sklearn.__version__}}
