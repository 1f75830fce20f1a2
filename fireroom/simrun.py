"""Scenarios on a simulated clock: a month of a site in seconds, in one process.

The network parts (Modbus servers, MQTT) add nothing to a month-long compliance scenario but
time, so this run reads the simulated devices' registers directly through the gateway's own
request plan and decoders, and feeds the telemetry to the same engines the rules service runs,
which record incidents in the same store. Time advances in fine steps (1 s) while anything moves
(a pump runs, pressure nears a pump's start, a step was just applied) and in coarse steps
otherwise, so a quiet day costs a few hundred samples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fireroom.clock import SimulatedClock
from fireroom.config import MqttTransport, Site
from fireroom.domain import Reading
from fireroom.telemetry import Telemetry
from gateway.planner import ReadRequest, plan_device
from services.incidents.models import IncidentChange
from services.incidents.store import IncidentStore
from services.rules.record import record_transitions
from services.rules.transitions import Transition
from simulators.model import SiteModel
from simulators.scenario import AppliedStep, Scenario
from simulators.steps import apply_to_model

__all__ = ["Engine", "SimulatedRun"]

log = logging.getLogger("fireroom.simrun")

FINE = 1.0
SETTLE = 120.0  # fine steps after each applied step: the site reacts within this


class Engine(Protocol):
    def evaluate(self, telemetry: Telemetry) -> list[Transition]: ...
    def tick(self) -> list[Transition]: ...


@dataclass
class SimulatedRun:
    """Plays `scenario` on `site` from Unix time `start`, as fast as the engines allow.

    Args:
        site: the site; its simulation section links pumps and transmitters.
        scenario: steps at scenario seconds, expectations checked by the caller.
        store: where incidents go.
        clock: the clock the engines were built with; the run moves it forward.
        engines: rules and compliance engines, fed every sample in order.
        coarse: the longest step when nothing moves.
    """

    site: Site
    scenario: Scenario
    store: IncidentStore
    clock: SimulatedClock
    engines: Sequence[Engine]
    coarse: float = 300.0
    seed: int = 0
    applied: list[AppliedStep] = field(default_factory=list)
    changes: list[IncidentChange] = field(default_factory=list)
    samples: int = 0
    on_change: Callable[[IncidentChange], None] | None = None

    def __post_init__(self) -> None:
        self.scenario.check(self.site)
        self.model = SiteModel(self.site, seed=self.seed)
        self.started_at = self.clock.now()
        self._plans: dict[str, list[ReadRequest]] = {
            device.id: plan_device(self.site, device)
            for device in self.site.config.devices
            if not isinstance(device.transport, MqttTransport)
        }
        self._seq = 0
        # Per device and request, the last words read and their readings: most registers of
        # a quiet site do not change between samples, and decoding is most of a sample's cost.
        self._cache: dict[tuple[str, int], tuple[list[int], list[Reading]]] = {}

    def run(self) -> list[IncidentChange]:
        steps = self.scenario.steps
        elapsed, index, settle_until = 0.0, 0, SETTLE
        self._sample()
        while elapsed < self.scenario.duration:
            while index < len(steps) and steps[index].at <= elapsed:
                step = steps[index]
                apply_to_model(self.model, step)
                self.applied.append(AppliedStep(index, step, elapsed, self.clock.now()))
                log.info("scenario step %d at %s: %s %s", index, _span(elapsed),
                         step.action.value, step.device or "")
                settle_until = elapsed + SETTLE
                index += 1
            next_step = steps[index].at if index < len(steps) else self.scenario.duration
            dt = self._step_length(elapsed < settle_until)
            dt = max(min(dt, next_step - elapsed, self.scenario.duration - elapsed), 1e-3)
            self.model.tick(dt)
            elapsed += dt
            self.clock.advance_to(self.started_at + elapsed)
            self._sample()
        return self.changes

    def _step_length(self, settling: bool) -> float:
        if settling or any(p.running or p.demand for p in self.model.pumps.values()):
            return FINE
        water = self.model.water
        if water is None:
            return self.coarse
        # Coarse steps only while the pressure cannot reach a pump's start within the step.
        from simulators.water import SEEPAGE

        config = water.config
        falling = water.leak + max(water.pressure - config.static_pressure, 0.0) * SEEPAGE
        margin = water.pressure - max(config.jockey_start, config.main_start)
        if margin <= 0 or falling <= 0:
            return FINE if margin <= 0 else self.coarse
        # Step to just past the crossing: with no pump running the fall is linear.
        return max(FINE, min(self.coarse, margin / falling + 0.5))

    def _sample(self) -> None:
        now = self.clock.now()
        self._seq += 1
        transitions: list[Transition] = []
        for device_id, requests in self._plans.items():
            device = self.model.devices[device_id]
            readings: list[Reading] = []
            for number, request in enumerate(requests):
                words = device.blocks[request.table].read(request.address, request.count)
                cached = self._cache.get((device_id, number))
                if cached is not None and cached[0] == words:
                    readings.extend(cached[1])
                    continue
                decoded = request.decode(words)
                self._cache[device_id, number] = (words, decoded)
                readings.extend(decoded)
            telemetry = Telemetry(self.site.id, device_id, now, self._seq, readings)
            for engine in self.engines:
                transitions.extend(engine.evaluate(telemetry))
        for engine in self.engines:
            transitions.extend(engine.tick())
        self.samples += 1
        if transitions:
            self._record(transitions)

    def _record(self, transitions: Iterable[Transition]) -> None:
        for change in record_transitions(self.store, self.site.id, transitions):
            self.changes.append(change)
            if self.on_change is not None:
                self.on_change(change)


def _span(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"day {days} {hours:02d}:{rest // 60:02d}" if days else f"{seconds:.0f} s"
