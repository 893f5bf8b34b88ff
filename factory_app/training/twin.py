"""A twin from execution history: the simulator's machine parameters calibrated from the log.

The simulated PLCs (factory_app/sim/physics.py) are models with a few parameters. Fitted to
what the real machines did (the recorded telemetry), ``factory sim`` with the calibrated
plant file behaves like the line did, so a proposed rule can be tried in closed loop, against
how the machines answer commands, not only open loop over history (``whatif``).

- Oven: ``dT/dt = gain * element - loss * (T - ambient)``, the element following the heater
  power with a first-order lag. For each candidate lag, linear least squares on the
  temperature's slope over a 1 s grid gives ``gain``, ``loss`` and ``ambient``; each fit is
  checked by running the simulator's own oven model on the recorded heater powers and
  comparing its temperatures with the recorded ones, and the lag whose fit retraces them
  best is kept (its error: ``fit_rms_c``). ``ambient`` is weakly determined unless the span
  has the oven cooling toward it; heating rate, loss and lag are what a rule meets.
- Press: ``cycle_s`` is the median cycle time while running (the cycle-drift rule's fold).
- Conveyor: not calibrated (its speed is commanded; its part pitch is a design figure).

Parameters are per second of event time: the twin runs at the recording's pace with
``sim.speed: 1``, N times faster with ``speed: N``.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import defaultdict

from factory_app import events
from factory_app.config import PlantConfig
from factory_app.rules.cycle_drift import observe
from factory_app.settings import Settings
from factory_app.sim.physics import model_for
from factory_app.snapshots.span import SpanPlan, plan_span, span_events

GRID_S = 1.0


class CalibrationError(ValueError):
    """Too little of a machine's behaviour in the span to fit it."""


async def recorded(settings: Settings, plant: PlantConfig, since: float | None, until: float | None,
                   progress=None, span: SpanPlan | None = None) -> tuple[dict[str, dict[str, list]], dict]:
    """Per asset, per tag: the good readings ``(event_time, value)`` in [since, until), time-sorted.
    ``span``: the read planned by ``plan_span`` (from the newest snapshot before ``since``; the default)."""
    topic = settings.topic(events.TELEMETRY)
    span = span or await plan_span(settings, since, until)
    wanted = {a.id for a in plant.assets}
    series: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    async for _, ev in span_events(settings, span, progress=progress):
        if ev.asset_id in wanted and ev.quality == "good":
            series[ev.asset_id][ev.tag].append((ev.event_time, ev.value))
    for tags in series.values():
        for readings in tags.values():
            readings.sort(key=lambda r: r[0])
    read = span.describe()
    out = {"topic": topic, "end_offsets": {p: r["end_offset"] for p, r in sorted(read.items(), key=lambda x: int(x[0]))},
           "read_from_offsets": {p: r["start_offset"] for p, r in sorted(read.items(), key=lambda x: int(x[0]))},
           "from": since, "to": until}
    return series, out


class _Series:
    """Time-sorted readings ``(event_time, value)`` with their times kept apart, so a lookup is a
    binary search (a fit looks values up thousands of times per replay)."""

    def __init__(self, readings: list):
        self.times = [r[0] for r in readings]
        self.values = [float(r[1]) for r in readings]

    def at(self, t: float) -> float:
        """The last value at or before ``t`` (a sample-and-hold signal)."""
        return self.values[max(bisect_right(self.times, t) - 1, 0)]

    def interp(self, t: float) -> float:
        """The value at ``t`` interpolated between its neighbours (held beyond the ends)."""
        i = bisect_right(self.times, t)
        if i <= 0:
            return self.values[0]
        if i >= len(self.times):
            return self.values[-1]
        t0, t1, v0, v1 = self.times[i - 1], self.times[i], self.values[i - 1], self.values[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1


def oven(temperature: list, power: list, lag_s: float) -> dict:
    """Fit an oven's parameters to its recorded temperature and heater power; with the fit's error."""
    import numpy as np

    if len(temperature) < 20 or not power:
        raise CalibrationError("fewer than 20 temperature readings, or no heater power, in the span")
    start, end = max(temperature[0][0], power[0][0]), temperature[-1][0]
    grid = np.arange(start, end, GRID_S)
    if len(grid) < 10:
        raise CalibrationError(f"only {end - start:.0f} s of an oven's history in the span")
    temperature_s, power_s = _Series(temperature), _Series(power)
    temps = np.array([temperature_s.interp(t) for t in grid])
    element, elements = power_s.at(grid[0]), []
    for t in grid:  # the model's own first-order lag of the heater power
        element += (power_s.at(t) - element) * (1 - np.exp(-GRID_S / lag_s))
        elements.append(element)
    slope = np.gradient(temps, GRID_S)
    design = np.column_stack([np.array(elements), -temps, np.ones_like(temps)])
    (gain, loss, c), *_ = np.linalg.lstsq(design, slope, rcond=None)
    if gain <= 0 or loss <= 0:
        raise CalibrationError(f"the oven's history does not show heating and cooling (gain {gain:.3g}, "
                               f"loss {loss:.3g}); a span with the heater both on and off is needed")
    params = {"gain": float(gain), "loss": float(loss), "ambient": float(c / loss), "lag_s": float(lag_s)}
    return {"parameters": params, "fit_rms_c": replay_error(params, temperature, power), "readings": len(temperature)}


LAGS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def best_oven(temperature: list, power: list) -> dict:
    """The oven fit that retraces the recorded temperatures best: the least-squares fits over the
    candidate lags, the best one refined by minimizing the replay error itself (Nelder-Mead)."""
    import numpy as np
    from scipy.optimize import minimize

    fits, last_error = [], None
    for lag in LAGS_S:
        try:
            fits.append(oven(temperature, power, lag))
        except CalibrationError as exc:
            last_error = exc
    if not fits:
        raise last_error
    start = min(fits, key=lambda f: f["fit_rms_c"])
    names = ("gain", "loss", "ambient", "lag_s")
    x0 = [start["parameters"][n] for n in names]

    def error(x) -> float:
        if x[0] <= 0 or x[1] <= 0 or x[3] <= 0.01:
            return 1e9
        return replay_error(dict(zip(names, map(float, x))), temperature, power)

    result = minimize(error, np.array(x0), method="Nelder-Mead", options={"maxiter": 400, "xatol": 1e-4,
                                                                          "fatol": 1e-3})
    if result.fun < start["fit_rms_c"]:
        start = {**start, "parameters": dict(zip(names, map(float, result.x))), "fit_rms_c": float(result.fun)}
    return start


def replay_error(params: dict, temperature: list, power: list) -> float:
    """RMS (degC) between the recorded temperatures and the simulator's oven with ``params`` driven
    by the recorded heater powers from the first recorded temperature."""
    model = model_for("oven", params)
    model.ripple = 0.0
    t = max(temperature[0][0], power[0][0])
    power_s = _Series(power)
    model.temperature, model.element = _Series(temperature).interp(t), power_s.at(t)
    errors = []
    for when, value in temperature:
        if when < t:
            continue
        while t + 0.1 <= when:
            model.heater_power = power_s.at(t)
            model.step(0.1)
            t += 0.1
        errors.append((model.temperature - float(value)) ** 2)
    return float(statistics.fmean(errors) ** 0.5) if errors else float("nan")


def press(counter: list, states: list) -> dict:
    """A press's cycle time: the median of its cycles while running."""
    merged = sorted([(t, "cycle_counter", v) for t, v in counter] + [(t, "state", v) for t, v in states])
    memory, cycles = {}, []
    for i, (t, tag, value) in enumerate(merged):
        reading = events.Telemetry(event_id=f"r{i}", asset_id="twin", event_time=t, tag=tag, value=value, seq=i)
        cycle, memory = observe(memory, reading, "cycle_counter", "state")
        if cycle is not None:
            cycles.append(cycle)
    if len(cycles) < 5:
        raise CalibrationError(f"only {len(cycles)} cycles while running in the span")
    return {"parameters": {"cycle_s": float(statistics.median(cycles))}, "cycles": len(cycles)}


def calibrate(plant: PlantConfig, series: dict[str, dict[str, list]]) -> tuple[dict, dict]:
    """``(sim.models, per-asset report)``: what could be fitted, and why the rest could not."""
    models, report = {}, {}
    for asset in plant.assets:
        tags = series.get(asset.id, {})
        try:
            if asset.type == "oven":
                fitted = best_oven(tags.get("temperature", []), tags.get("heater_power", []))
            elif asset.type == "press":
                fitted = press(tags.get("cycle_counter", []), tags.get("state", []))
            else:
                report[asset.id] = {"calibrated": False, "why": f"a {asset.type} has nothing to calibrate"}
                continue
        except CalibrationError as exc:
            report[asset.id] = {"calibrated": False, "why": str(exc)}
            continue
        models[asset.id] = fitted.pop("parameters")
        report[asset.id] = {"calibrated": True, **fitted}
    return models, report
