"""Water system model: fire main pressure driven by the main and jockey pumps and a leak."""

from __future__ import annotations

import random

from fireroom.config import WaterSimulation
from simulators.devices import SimulatedDevice
from simulators.errors import SimulatorError
from simulators.pump import PumpController

__all__ = ["WaterSystem"]

# How fast pressure follows the main pump to churn, and the city supply refills to static (1/s).
MAIN_RESPONSE = 0.5
SUPPLY_RESPONSE = 0.5
# Pressure above static bleeds away slowly through valves and seals even without a leak (1/s).
SEEPAGE = 0.0001
# A fire pump in auto is not stopped by pressure at once: a short-cycling main pump wears out.
MAIN_MIN_RUN = 30.0
PRESSURE_NOISE = 0.002  # MPa
LEVEL_NOISE = 0.005  # m


def _split(point_id: str) -> tuple[str, str]:
    device, _, point = point_id.partition("/")
    if not device or not point:
        raise SimulatorError(f"{point_id!r} is not a 'device/point' id")
    return device, point


class WaterSystem:
    """One fire main: pressure in MPa, the pumps that feed it and the transmitters that read it."""

    def __init__(
        self,
        config: WaterSimulation,
        devices: dict[str, SimulatedDevice],
        pumps: dict[str, PumpController],
        rng: random.Random,
    ) -> None:
        self.config = config
        self.rng = rng
        if config.main_pump not in pumps:
            raise SimulatorError(f"main_pump {config.main_pump!r} is not a pump controller")
        self.main = pumps[config.main_pump]
        self.jockey: PumpController | None = None
        if config.jockey_pump is not None:
            if config.jockey_pump not in pumps:
                raise SimulatorError(
                    f"jockey_pump {config.jockey_pump!r} is not a pump controller"
                )
            self.jockey = pumps[config.jockey_pump]
        self.transmitters: list[tuple[SimulatedDevice, str, float]] = []
        for i, point_id in enumerate(config.pressure_points):
            device, point = self._point(devices, point_id)
            loss = 0.0 if i == 0 else config.head_losses.get(point_id, config.head_loss)
            self.transmitters.append((device, point, loss))
        self.tank: tuple[SimulatedDevice, str] | None = None
        if config.tank_level_point is not None:
            self.tank = self._point(devices, config.tank_level_point)
        self.pressure = (config.jockey_start + config.jockey_stop) / 2
        self.leak = config.leak_rate
        self.main_ran = 0.0
        self._publish()
        self.main.publish(self.pressure)
        if self.jockey is not None:
            self.jockey.publish(self.pressure)

    @staticmethod
    def _point(devices: dict[str, SimulatedDevice], point_id: str) -> tuple[SimulatedDevice, str]:
        device_id, point = _split(point_id)
        if device_id not in devices:
            raise SimulatorError(f"{point_id!r}: no device {device_id!r}")
        devices[device_id].spec(point)
        return devices[device_id], point

    def tick(self, dt: float) -> None:
        self._control(dt)
        self._flow(dt)
        self.main.tick(dt, self.pressure)
        if self.jockey is not None:
            self.jockey.tick(dt, self.pressure)
        self._publish()

    def _control(self, dt: float) -> None:
        config, main, jockey = self.config, self.main, self.jockey
        if main.test_or_manual_run:
            pass  # the person or the weekly test decides when it stops
        elif main.mode == "auto":
            if self.pressure < config.main_start:
                main.call(True)
            elif main.running and self.main_ran >= MAIN_MIN_RUN and (
                self.pressure >= config.jockey_stop
            ):
                main.call(False)
        elif main.demand:
            main.call(False)
        self.main_ran = self.main_ran + dt if main.running else 0.0
        if jockey is not None and not jockey.test_or_manual_run:
            if jockey.mode != "auto":
                if jockey.demand:
                    jockey.call(False)
            elif self.pressure < config.jockey_start:
                jockey.call(True)
            elif self.pressure >= config.jockey_stop:
                jockey.call(False)

    def _flow(self, dt: float) -> None:
        config, p = self.config, self.pressure
        rate = 0.0
        if self.main.running and not self.main.no_pressure:
            rate += (config.churn_pressure - p) * MAIN_RESPONSE
        jockey = self.jockey
        if jockey is not None and jockey.running and not jockey.no_pressure and (
            p < config.churn_pressure
        ):
            rate += config.jockey_rate
        rate -= self.leak
        if p > config.static_pressure:
            rate -= (p - config.static_pressure) * SEEPAGE
        else:
            rate += (config.static_pressure - p) * SUPPLY_RESPONSE
        self.pressure = max(0.0, p + rate * dt)

    def _publish(self) -> None:
        for device, point, loss in self.transmitters:
            value = self.pressure - loss + self.rng.uniform(-PRESSURE_NOISE, PRESSURE_NOISE)
            device.update_engineering(point, max(0.0, value))
        if self.tank is not None:
            device, point = self.tank
            level = self.config.tank_level + self.rng.uniform(-LEVEL_NOISE, LEVEL_NOISE)
            device.update_engineering(point, level)
