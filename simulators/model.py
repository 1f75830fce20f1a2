"""A whole site's simulated devices and the behaviour models that move their registers."""

from __future__ import annotations

import random

from fireroom.config import DeviceConfig, MqttTransport, Site
from simulators.devices import SimulatedDevice
from simulators.errors import SimulatorError
from simulators.facp import FacpPanel
from simulators.mqtt_device import json_image
from simulators.pump import JOCKEY_RATING, MAIN_RATING, PumpController
from simulators.water import WaterSystem

__all__ = ["SiteModel"]


def _simulated(site: Site, config: DeviceConfig) -> SimulatedDevice:
    profile, points = site.profile_of(config.id), site.points[config.id]
    if isinstance(config.transport, MqttTransport):
        # JSON points have no registers (address 0 stands in): give each its own place.
        return json_image(config, profile, points)
    return SimulatedDevice(config, profile, points)


class SiteModel:
    """Every device of a site, its panels and pumps, and the water system linking them.

    `tick(dt)` advances the behaviour by `dt` seconds; nothing here touches the network or a clock,
    so tests can run an hour of water system in a few milliseconds.
    """

    def __init__(self, site: Site, *, seed: int = 0) -> None:
        self.site = site
        self.rng = random.Random(seed)
        self.devices: dict[str, SimulatedDevice] = {
            config.id: _simulated(site, config) for config in site.config.devices
        }
        self.panels: dict[str, FacpPanel] = {}
        self.pumps: dict[str, PumpController] = {}
        water = site.config.simulation.water
        jockey_id = water.jockey_pump if water is not None else None
        for device_id, device in self.devices.items():
            if device.kind == "facp":
                self.panels[device_id] = FacpPanel(device)
            elif device.kind == "pump_controller":
                jockey = device_id == jockey_id
                self.pumps[device_id] = PumpController(
                    device,
                    JOCKEY_RATING if jockey else MAIN_RATING,
                    self.rng,
                    run_hours=812.4 if jockey else 96.3,
                    starts=5210 if jockey else 61,
                )
            elif device.kind == "analog_module" and "module_temperature" in device.points:
                device.set("module_temperature", 31.5)
        self.water = (
            WaterSystem(water, self.devices, self.pumps, self.rng) if water is not None else None
        )
        self.elapsed = 0.0

    def device(self, device_id: str) -> SimulatedDevice:
        try:
            return self.devices[device_id]
        except KeyError:
            raise SimulatorError(f"site {self.site.id!r} has no device {device_id!r}") from None

    def panel(self, device_id: str) -> FacpPanel:
        if device_id not in self.panels:
            raise SimulatorError(f"{device_id!r} is not a fire alarm panel")
        return self.panels[device_id]

    def pump(self, device_id: str) -> PumpController:
        if device_id not in self.pumps:
            raise SimulatorError(f"{device_id!r} is not a pump controller")
        return self.pumps[device_id]

    def tick(self, dt: float) -> None:
        self.elapsed += dt
        pressure = 0.0
        linked: set[str] = set()
        if self.water is not None:
            self.water.tick(dt)
            pressure = self.water.pressure
            linked = {self.water.main.device.id}
            if self.water.jockey is not None:
                linked.add(self.water.jockey.device.id)
        for device_id, pump in self.pumps.items():
            if device_id not in linked:
                pump.tick(dt, pressure)
