"""Simulated field devices for fireroom: models, Modbus servers, MQTT publishers, scenarios.

    async with SiteSimulator(site, load_scenario("fire-alarm")) as sim:
        await sim.wait_scenario_done()
"""

from simulators.clock import FastClock
from simulators.devices import SimulatedDevice
from simulators.errors import ScenarioError, SimulatorError
from simulators.facp import FacpPanel, PointState
from simulators.model import SiteModel
from simulators.mqtt_device import MqttDeviceSimulator, json_document, json_image
from simulators.pump import PumpController
from simulators.rtu import Frame, RtuLineServer
from simulators.runtime import SiteSimulator
from simulators.scenario import (
    Action,
    AppliedStep,
    Expectation,
    Scenario,
    Step,
    load_scenario,
    parse_scenario,
    scenario_names,
)
from simulators.server import DeviceServer, ServedDevice
from simulators.water import WaterSystem

__all__ = [
    "Action",
    "AppliedStep",
    "DeviceServer",
    "Expectation",
    "FacpPanel",
    "FastClock",
    "Frame",
    "MqttDeviceSimulator",
    "PointState",
    "PumpController",
    "RtuLineServer",
    "Scenario",
    "ScenarioError",
    "ServedDevice",
    "SimulatedDevice",
    "SimulatorError",
    "SiteModel",
    "SiteSimulator",
    "Step",
    "WaterSystem",
    "json_document",
    "json_image",
    "load_scenario",
    "parse_scenario",
    "scenario_names",
]
