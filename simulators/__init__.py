"""Simulated field devices for fireroom: device models, pymodbus servers and scenarios.

    async with SiteSimulator(site, load_scenario("fire-alarm")) as sim:
        await sim.wait_scenario_done()
"""

from simulators.clock import FastClock
from simulators.devices import SimulatedDevice
from simulators.errors import ScenarioError, SimulatorError
from simulators.facp import FacpPanel, PointState
from simulators.model import SiteModel
from simulators.pump import PumpController
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
from simulators.server import DeviceServer
from simulators.water import WaterSystem

__all__ = [
    "Action",
    "AppliedStep",
    "DeviceServer",
    "Expectation",
    "FacpPanel",
    "FastClock",
    "PointState",
    "PumpController",
    "Scenario",
    "ScenarioError",
    "SimulatedDevice",
    "SimulatorError",
    "SiteModel",
    "SiteSimulator",
    "Step",
    "WaterSystem",
    "load_scenario",
    "parse_scenario",
    "scenario_names",
]
