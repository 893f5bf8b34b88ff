"""Calibration recovers a simulated oven's and press's parameters from readings the simulator itself produced."""

from __future__ import annotations

import pytest

from factory_app.sim.physics import model_for
from factory_app.training.twin import CalibrationError, best_oven, press


def recorded_oven(truth: dict, seconds: float = 400.0, dt: float = 0.05):
    """Temperature and heater power readings of the simulator's oven under an on/off thermostat."""
    oven = model_for("oven", truth)
    temperature, power, t, heater = [], [(0.0, 40.0)], 0.0, 40.0
    oven.heater_power = heater
    while t < seconds:
        oven.step(dt)
        t += dt
        reading = oven.outputs()["temperature"]
        if heater and reading > 150:
            heater = 0.0
            power.append((t, heater))
        elif not heater and reading < 140:
            heater = 40.0
            power.append((t, heater))
        oven.heater_power = heater
        if round(t / dt) % 4 == 0:  # a reading every 0.2 s
            temperature.append((t, reading))
    return temperature, power


def test_an_ovens_parameters_are_recovered_from_its_readings():
    truth = {"gain": 0.05, "loss": 0.01, "ambient": 20.0, "lag_s": 2.0}
    fitted = best_oven(*recorded_oven(truth))
    assert fitted["fit_rms_c"] < 1.0, fitted
    for name in ("gain", "loss", "lag_s"):
        assert fitted["parameters"][name] == pytest.approx(truth[name], rel=0.15), (name, fitted)
    # The ambient temperature is barely seen by an oven that never cools toward it: whatever it is
    # fitted to, the temperatures it retraces are the recorded ones (the check above).


def test_a_press_cycle_is_the_median_while_running_and_too_little_history_is_refused():
    counter = [(2.0 * i, i) for i in range(1, 20)] + [(100.0, 20), (102.0, 21)]
    states = [(0.0, "running"), (50.0, "stopped"), (99.0, "running")]
    assert press(counter, states)["parameters"]["cycle_s"] == pytest.approx(2.0)
    with pytest.raises(CalibrationError, match="cycles while running"):
        press(counter[:3], states)
