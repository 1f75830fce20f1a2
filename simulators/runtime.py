"""Run a simulated site: its Modbus servers and MQTT publishers, the behaviour tick, a scenario."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from fireroom.clock import Clock, SystemClock
from fireroom.config import (
    MqttConfig,
    MqttTransport,
    RtuTransport,
    SerialLine,
    Site,
    TcpTransport,
)
from simulators.devices import SimulatedDevice
from simulators.errors import SimulatorError
from simulators.model import SiteModel
from simulators.mqtt_device import MqttDeviceSimulator, json_document
from simulators.rtu import RtuLineServer
from simulators.scenario import AppliedStep, Scenario, Step
from simulators.server import DeviceServer, ServedDevice
from simulators.steps import SERVER_ACTIONS, apply_to_model, apply_to_publisher, apply_to_server

__all__ = ["TICK", "SiteSimulator"]

log = logging.getLogger("fireroom.simulators")

TICK = 0.1  # s of behaviour per step
# A stalled event loop must not turn into one huge physics step (pressure would jump).
_MAX_STEP = 1.0


class SiteSimulator:
    """Simulates a whole site on loopback Modbus servers and MQTT, optionally playing a scenario.

    Modbus TCP devices get a server each, on their transport's host and port; the devices of an
    RTU line share one server on the line's serial port or, for a serial server line, its host
    and port. MQTT devices publish their JSON every `poll_interval` to their broker.

    Args:
        site: the site whose devices to simulate.
        scenario: steps to apply at their times after start.
        clock: time source for the tick and the scenario; `applied` records `clock.now()`.
        serve: start the Modbus servers (False runs the models alone).
        seed: seed of the measurement noise, so runs repeat.
        serial_ports: the port to serve a serial line on, by line id, where the simulator's
            end of the wire is not the line's configured `port` (the other end of a pty pair).
        mqtt: the broker MQTT devices publish to unless they name their own `broker`; the
            site's `mqtt` by default.
    """

    def __init__(
        self,
        site: Site,
        scenario: Scenario | None = None,
        *,
        clock: Clock | None = None,
        serve: bool = True,
        seed: int = 0,
        serial_ports: Mapping[str, str] | None = None,
        mqtt: MqttConfig | None = None,
    ) -> None:
        if scenario is not None:
            scenario.check(site)
        self.site = site
        self.scenario = scenario
        self.clock: Clock = clock or SystemClock()
        self.model = SiteModel(site, seed=seed)
        self.servers: dict[str, DeviceServer] = {}  # Modbus TCP devices
        self.lines: dict[str, RtuLineServer] = {}
        self.served: dict[str, ServedDevice] = {}  # every device a server answers for
        self.publishers: dict[str, MqttDeviceSimulator] = {}
        if serve:
            self._build_servers(serial_ports or {})
            self._build_publishers(mqtt or site.config.mqtt)
        self.applied: list[AppliedStep] = []
        self.started_at = 0.0
        self._started_mono = 0.0
        self._done = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _build_servers(self, serial_ports: Mapping[str, str]) -> None:
        serial_lines = {line.id for line in self.site.config.lines if isinstance(line, SerialLine)}
        for line_id in serial_ports:
            if line_id not in serial_lines:
                known = ", ".join(sorted(serial_lines)) or "none"
                raise SimulatorError(f"{line_id!r} is not one of the site's serial lines: {known}")
        on_line: dict[str, list[ServedDevice]] = {}
        for config in self.site.config.devices:
            transport = config.transport
            device = self.model.devices[config.id]
            if isinstance(transport, TcpTransport):
                server = DeviceServer(device, transport.host, transport.port)
                self.servers[config.id] = self.served[config.id] = server
            elif isinstance(transport, RtuTransport):
                served = self.served[config.id] = ServedDevice(device)
                on_line.setdefault(transport.line, []).append(served)
        for line_id, devices in on_line.items():
            self.lines[line_id] = RtuLineServer(
                self.site.config.line(line_id), devices, port=serial_ports.get(line_id)
            )

    def _build_publishers(self, mqtt: MqttConfig) -> None:
        for config in self.site.config.devices:
            transport = config.transport
            if not isinstance(transport, MqttTransport):
                continue
            device = self.model.devices[config.id]
            json_document(device)  # two points on one JSON path fail here, not mid-run
            self.publishers[config.id] = MqttDeviceSimulator(
                device, transport.broker or mqtt, clock=self.clock
            )

    def _all_servers(self) -> list[DeviceServer | RtuLineServer]:
        return [*self.servers.values(), *self.lines.values()]

    def device(self, device_id: str) -> SimulatedDevice:
        return self.model.device(device_id)

    def server(self, device_id: str) -> DeviceServer:
        """The Modbus TCP server of a device (an RTU device's faults are in `fault`)."""
        if device_id not in self.servers:
            raise SimulatorError(f"no Modbus TCP server for {device_id!r}")
        return self.servers[device_id]

    def fault(self, device_id: str) -> ServedDevice:
        """How a device answers, TCP or RTU: silence it, make it fail or answer late."""
        if device_id not in self.served:
            raise SimulatorError(f"no server answers for {device_id!r}")
        return self.served[device_id]

    def line(self, line_id: str) -> RtuLineServer:
        if line_id not in self.lines:
            raise SimulatorError(f"no simulated RTU line {line_id!r}")
        return self.lines[line_id]

    def publisher(self, device_id: str) -> MqttDeviceSimulator:
        """What publishes an MQTT device's JSON: silence it, garble it, publish now."""
        if device_id not in self.publishers:
            raise SimulatorError(f"no MQTT publisher for {device_id!r}")
        return self.publishers[device_id]

    async def __aenter__(self) -> Self:
        started: list[DeviceServer | RtuLineServer] = []
        try:
            for server in self._all_servers():
                await server.start()
                started.append(server)
        except BaseException:
            for server in started:
                await server.stop()
            raise
        self.started_at = self.clock.now()
        self._started_mono = self.clock.monotonic()
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        self._tasks = [group.create_task(self._tick(), name=f"simulator[{self.site.id}].tick")]
        self._tasks.extend(
            group.create_task(publisher.run(), name=f"simulator[{device_id}].mqtt")
            for device_id, publisher in self.publishers.items()
        )
        if self.scenario is not None:
            self._tasks.append(group.create_task(
                self._play(self.scenario), name=f"simulator[{self.site.id}].scenario"
            ))
        else:
            self._done.set()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        group, self._group = self._group, None
        try:
            if group is not None:
                for task in self._tasks:
                    task.cancel()
                # Only a cancellation may come from the group (a failed task cancels its parent);
                # any other error of the body propagates as itself, not wrapped in a group.
                if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                    await group.__aexit__(exc_type, exc, traceback)
                else:
                    await group.__aexit__(None, None, None)
        finally:
            for server in self._all_servers():
                await server.stop()

    async def wait_scenario_done(self) -> None:
        """Until every step is applied and the scenario's duration has passed."""
        await self._done.wait()

    async def _tick(self) -> None:
        last = self.clock.monotonic()
        while True:
            await self.clock.sleep(TICK)
            now = self.clock.monotonic()
            self.model.tick(min(max(now - last, 0.0), _MAX_STEP))
            last = now

    async def _play(self, scenario: Scenario) -> None:
        log.info("scenario %s started: %s", scenario.name, scenario.description.strip())
        for index, step in enumerate(scenario.steps):
            wait = step.at - (self.clock.monotonic() - self._started_mono)
            if wait > 0:
                await self.clock.sleep(wait)
            self.apply(step, index)
        rest = scenario.duration - (self.clock.monotonic() - self._started_mono)
        if rest > 0:
            await self.clock.sleep(rest)
        log.info("scenario %s done", scenario.name)
        self._done.set()

    def apply(self, step: Step, index: int = -1) -> AppliedStep:
        """Apply one step now and record it in `applied`."""
        self._apply(step)
        applied = AppliedStep(
            index=index,
            step=step,
            at=self.clock.monotonic() - self._started_mono,
            wall=self.clock.now(),
        )
        self.applied.append(applied)
        what = " ".join(
            str(part) for part in (step.device, step.action.value, step.point, step.value,
                                   step.code, step.seconds) if part is not None
        )
        log.info("scenario step %d at %.1f s: %s", index, applied.at, what)
        return applied

    def _apply(self, step: Step) -> None:
        action = step.action
        if action not in SERVER_ACTIONS:
            apply_to_model(self.model, step)
            return
        assert step.device is not None  # Step validates it
        if step.device in self.publishers:
            apply_to_publisher(self.publishers[step.device], step)
        else:
            apply_to_server(self.fault(step.device), step)
