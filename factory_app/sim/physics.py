"""Deterministic machine models. ``step(dt)`` advances simulated time; no I/O, no clocks.

Each model exposes ``outputs()`` (what the PLC publishes) and accepts its
writable inputs as attributes; methods are plain Python methods returning an
error string (or None) so the OPC UA layer can turn them into status codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Oven:
    """Heater power (0-100 %) -> element output (first-order lag) -> temperature with loss to ambient."""

    temperature: float = 20.0
    heater_power: float = 0.0
    ambient: float = 20.0
    gain: float = 0.05        # degC/s per % of element output
    loss: float = 0.01        # 1/s, heat loss toward ambient
    lag_s: float = 2.0        # element time constant
    element: float = 0.0
    # Deterministic sensor ripple: a real probe never reads the same value twice,
    # so the PLC keeps publishing (and rules keep seeing) the temperature.
    ripple: float = 0.05
    _t: float = 0.0

    def step(self, dt: float) -> None:
        self._t += dt
        self.element += (self.heater_power - self.element) * (1 - math.exp(-dt / self.lag_s))
        self.temperature += (self.gain * self.element - self.loss * (self.temperature - self.ambient)) * dt

    def outputs(self) -> dict:
        reading = self.temperature + self.ripple * math.sin(self._t * 2.1)
        return {"temperature": round(reading, 3), "heater_power": float(self.heater_power)}


@dataclass
class Conveyor:
    """Motor on/off and a speed set-point; counts parts by distance; can jam."""

    motor_on: bool = True
    speed_setpoint: float = 1.0   # m/s
    speed: float = 0.0
    part_counter: int = 0
    jammed: bool = False
    part_pitch_m: float = 0.5
    _distance: float = 0.0

    def step(self, dt: float) -> None:
        target = self.speed_setpoint if self.motor_on and not self.jammed else 0.0
        rate = 1.0 if target > self.speed else 2.0  # m/s^2: accelerate, brake
        delta = max(-rate * dt, min(rate * dt, target - self.speed))
        self.speed = max(0.0, self.speed + delta)
        self._distance += self.speed * dt
        while self._distance >= self.part_pitch_m:
            self._distance -= self.part_pitch_m
            self.part_counter += 1

    @property
    def state(self) -> str:
        if self.jammed:
            return "jammed"
        return "running" if self.speed > 0.01 else "stopped"

    def inject_jam(self) -> str | None:
        self.jammed = True
        return None

    def clear_jam(self) -> str | None:
        self.jammed = False
        return None

    def outputs(self) -> dict:
        return {"motor_on": self.motor_on, "speed_setpoint": float(self.speed_setpoint),
                "speed": round(self.speed, 3), "part_counter": self.part_counter, "jammed": self.jammed,
                "state": self.state}


@dataclass
class Press:
    """idle / running / stopped / faulted; a cycle every ``cycle_s``; every 10th part is bad."""

    run: bool = True
    state: str = "idle"
    cycle_counter: int = 0
    good_parts: int = 0
    bad_parts: int = 0
    fault_active: bool = False
    maintenance_request: bool = False  # set by a cycle-drift rule (or an operator); the sim only keeps it
    cycle_s: float = 2.0
    _fault_left: float = 0.0
    _cycle_elapsed: float = 0.0

    def step(self, dt: float) -> None:
        if self.fault_active:
            self._fault_left -= dt
            if self._fault_left <= 0:
                self.fault_active = False  # the cause cleared; the state stays faulted until reset
        if self.state == "faulted":
            return
        if not self.run:
            self.state = "stopped" if self.state == "running" else self.state
            return
        self.state = "running"
        self._cycle_elapsed += dt
        while self._cycle_elapsed >= self.cycle_s:
            self._cycle_elapsed -= self.cycle_s
            self.cycle_counter += 1
            if self.cycle_counter % 10 == 0:
                self.bad_parts += 1
            else:
                self.good_parts += 1

    def inject_fault(self, duration_s: float) -> str | None:
        self.state = "faulted"
        self.fault_active = True
        self._fault_left = float(duration_s)
        return None

    def reset_fault(self) -> str | None:
        if self.state != "faulted":
            return "not faulted"
        if self.fault_active:
            return "fault still active"
        self.state = "idle"
        self._cycle_elapsed = 0.0
        return None

    def outputs(self) -> dict:
        return {"state": self.state, "run": self.run, "cycle_counter": self.cycle_counter,
                "good_parts": self.good_parts, "bad_parts": self.bad_parts, "fault_active": self.fault_active,
                "maintenance_request": self.maintenance_request}


MODELS = {"oven": Oven, "conveyor": Conveyor, "press": Press}
# The parameters of each model a plant file may set (``sim.models``), e.g. from ``factory twin
# calibrate``: how the machine behaves, not its state.
PARAMETERS = {"oven": ("gain", "loss", "ambient", "lag_s"), "conveyor": ("part_pitch_m",), "press": ("cycle_s",)}


def model_for(kind: str, parameters: dict[str, float] | None = None):
    """A fresh model of ``kind`` with ``parameters`` set; ValueError naming an unknown one."""
    parameters = parameters or {}
    unknown = set(parameters) - set(PARAMETERS[kind])
    if unknown:
        raise ValueError(f"a {kind} has no parameter(s) {', '.join(sorted(unknown))}; "
                         f"it has {', '.join(PARAMETERS[kind])}")
    return MODELS[kind](**{k: float(v) for k, v in parameters.items()})
# Methods a model offers over OPC UA; the sim_ ones exist only in simulation (tests inject faults).
METHODS = {
    "oven": {},
    "conveyor": {"clear_jam": (), "inject_jam": ()},
    "press": {"reset_fault": (), "inject_fault": ("duration_s",)},
}
