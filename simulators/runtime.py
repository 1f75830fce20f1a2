"""Run a simulated site: one Modbus server per device, the behaviour tick and a scenario."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

from fireroom.clock import Clock, SystemClock
from fireroom.config import Site, TcpTransport
from simulators.devices import SimulatedDevice
from simulators.errors import SimulatorError
from simulators.model import SiteModel
from simulators.scenario import Action, AppliedStep, Scenario, Step
from simulators.server import DeviceServer
from simulators.steps import SERVER_ACTIONS, apply_to_model

__all__ = ["TICK", "SiteSimulator"]

log = logging.getLogger("fireroom.simulators")

TICK = 0.1  # s of behaviour per step
# A stalled event loop must not turn into one huge physics step (pressure would jump).
_MAX_STEP = 1.0


class SiteSimulator:
    """Simulates a whole site on loopback Modbus servers, optionally playing a scenario.

    Args:
        site: the site whose devices to simulate; each server binds its transport host and port.
        scenario: steps to apply at their times after start.
        clock: time source for the tick and the scenario; `applied` records `clock.now()`.
        serve: start the Modbus servers (False runs the models alone).
        seed: seed of the measurement noise, so runs repeat.
    """

    def __init__(
        self,
        site: Site,
        scenario: Scenario | None = None,
        *,
        clock: Clock | None = None,
        serve: bool = True,
        seed: int = 0,
    ) -> None:
        if scenario is not None:
            scenario.check(site)
        self.site = site
        self.scenario = scenario
        self.clock: Clock = clock or SystemClock()
        self.model = SiteModel(site, seed=seed)
        self.servers: dict[str, DeviceServer] = {}
        if serve:
            for config in site.config.devices:
                transport = config.transport
                if isinstance(transport, TcpTransport):
                    self.servers[config.id] = DeviceServer(
                        self.model.devices[config.id], transport.host, transport.port
                    )
        self.applied: list[AppliedStep] = []
        self.started_at = 0.0
        self._started_mono = 0.0
        self._done = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def device(self, device_id: str) -> SimulatedDevice:
        return self.model.device(device_id)

    def server(self, device_id: str) -> DeviceServer:
        if device_id not in self.servers:
            raise SimulatorError(f"no server for {device_id!r}")
        return self.servers[device_id]

    async def __aenter__(self) -> Self:
        started: list[DeviceServer] = []
        try:
            for server in self.servers.values():
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
            for server in self.servers.values():
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
        if action is Action.SILENT:
            self.server(step.device).silence()
        elif action is Action.ANSWER:
            self.server(step.device).answer()
        elif action is Action.EXCEPTION:
            assert step.code is not None
            self.server(step.device).fail_with(step.code)
        elif action is Action.DELAY:
            assert step.seconds is not None
            self.server(step.device).delay_by(step.seconds)
