"""Electric pump controller model: auto start on demand, run telemetry, fail to start."""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulators.devices import SimulatedDevice

__all__ = ["PumpController", "PumpRating"]


@dataclass(frozen=True)
class PumpRating:
    current: float  # A per phase at duty
    power: float  # kW at duty
    voltage: float = 380.0
    frequency: float = 50.0


MAIN_RATING = PumpRating(current=84.0, power=45.0)
JOCKEY_RATING = PumpRating(current=7.8, power=3.0)

# Without a start a controller in demand raises fail_to_start after this long (DOMAIN.md: 30 s
# for small motors; 20 s keeps the scenarios short).
FAIL_TO_START_AFTER = 20.0


class PumpController:
    """The state a controller reports; the water system decides when there is demand."""

    def __init__(
        self,
        device: SimulatedDevice,
        rating: PumpRating,
        rng: random.Random,
        run_hours: float = 0.0,
        starts: int = 0,
    ) -> None:
        self.device = device
        self.rating = rating
        self.rng = rng
        self.running = False
        self.demand = False
        self.cause = "none"
        self.fails_to_start = False
        self.fail_after = FAIL_TO_START_AFTER
        self.demand_for = 0.0
        self.run_hours = run_hours
        self.starts = starts
        self.motor_temperature = 24.0
        # A run started by a person or by the controller's weekly test, not by pressure demand.
        self.run_left: float | None = None
        self.weekly_test = False
        self.mode_before_run = "auto"
        # A pump that turns but does not pump (closed valve, broken coupling, air in the casing).
        self.no_pressure = False
        if "mode" in device.points:
            device.set("mode", "auto")
        self.publish(0.0)

    @property
    def mode(self) -> str:
        value = self.device.get("mode") if "mode" in self.device.points else "auto"
        return value if isinstance(value, str) else "off"

    def call(self, demand: bool, cause: str = "demand") -> None:
        """Start (or stop) the pump as the controller would for this demand."""
        if demand and not self.demand:
            self.demand_for = 0.0
        self.demand = demand
        if demand and not self.running and not self.fails_to_start:
            self.running = True
            self.starts += 1
            self.cause = cause
        elif not demand and self.running:
            self.running = False
            self.cause = "none"

    @property
    def test_or_manual_run(self) -> bool:
        return self.run_left is not None

    def run_for(self, seconds: float, cause: str = "manual") -> None:
        """Run for `seconds` as a person (cause manual/remote) or the weekly test (cause test)
        would start it; afterwards stop and put the selector back where it was."""
        self.mode_before_run = self.mode
        if cause == "manual" and "mode" in self.device.points:
            self.device.set("mode", "manual")
        self.weekly_test = cause == "test"
        if not self.running:
            self.starts += 1
        self.running = True
        self.cause = cause
        self.run_left = seconds

    def _end_run(self) -> None:
        self.run_left = None
        self.weekly_test = False
        self.running = False
        self.cause = "none"
        if "mode" in self.device.points:
            self.device.set("mode", self.mode_before_run)

    def fail_to_start(self, after: float = FAIL_TO_START_AFTER) -> None:
        self.fails_to_start = True
        self.fail_after = after
        if self.running:
            self.running = False
            self.cause = "none"

    def tick(self, dt: float, discharge_pressure: float) -> None:
        if self.run_left is not None:
            self.run_left -= dt
            if self.run_left <= 0:
                self._end_run()
        if self.demand and not self.running:
            self.demand_for += dt
        if self.running:
            self.run_hours += dt / 3600.0
            self.motor_temperature += (65.0 - self.motor_temperature) * dt / 600.0
        else:
            self.motor_temperature += (24.0 - self.motor_temperature) * dt / 1800.0
        self.publish(discharge_pressure)

    def _noise(self, spread: float) -> float:
        return self.rng.uniform(-spread, spread)

    def publish(self, discharge_pressure: float) -> None:
        """Write the controller's state and measurements into its registers."""
        device, rating, put = self.device, self.rating, self._put
        put("running", self.running)
        put("demand", self.demand)
        put("weekly_test_running", self.weekly_test)
        put("start_cause", self.cause)
        failed = self.demand and not self.running and self.demand_for >= self.fail_after
        if failed and "alarms" in device.points:
            device.set_flag("alarms", "fail_to_start", on=True)
        put("discharge_pressure", max(0.0, discharge_pressure))
        for phase in ("l1", "l2", "l3"):
            put(f"voltage_{phase}", rating.voltage + self._noise(1.5))
            current = rating.current + self._noise(0.8) if self.running else 0.0
            put(f"current_{phase}", current)
        put("frequency", rating.frequency + self._noise(0.02))
        put("motor_temperature", self.motor_temperature)
        put("run_hours", self.run_hours)
        put("starts_total", self.starts)
        put("power", rating.power + self._noise(0.5) if self.running else 0.0)

    def _put(self, name: str, value: float | bool | str) -> None:
        # Profiles for smaller controllers may leave some of these points out.
        if name in self.device.points:
            self.device.update(name, value)
