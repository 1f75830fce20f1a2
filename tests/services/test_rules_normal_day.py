"""A normal day of a healthy site raises nothing.

The example site's simulated devices (the same models the simulators serve over Modbus) run for
simulated hours; their registers are read through the gateway's own request plan and decoders,
and the telemetry goes to the pure engine with the full rule catalogue. The jockey pump cycles
a few times an hour as the main slowly loses pressure: every rule sees normal operation.
"""

from __future__ import annotations

from pathlib import Path

from fireroom.config import Site, load_site
from fireroom.domain import Reading
from fireroom.telemetry import Telemetry
from gateway.planner import ReadRequest, plan
from services.rules import RulesEngine, Transition
from simulators import SiteModel
from tests.services.helpers import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"


class Day:
    """A simulated site read like the gateway reads it, fed to the engine."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.clock = FakeClock()
        self.engine = RulesEngine(site, self.clock)
        self.model = SiteModel(site, seed=7)
        self.requests: dict[str, list[ReadRequest]] = {
            device.id: plan(
                site.points[device.id],
                max_registers=device.max_registers,
                max_bits=device.max_bits,
            )
            for device in site.config.devices
        }
        self.seq = 0
        self.jockey_running_seen = 0

    def sample(self) -> list[Transition]:
        self.seq += 1
        out: list[Transition] = []
        for device_id, requests in self.requests.items():
            device = self.model.devices[device_id]
            readings: list[Reading] = []
            for request in requests:
                words = device.blocks[request.table].read(request.address, request.count)
                readings.extend(request.decode(words))
            if device_id == "jockey-1":
                self.jockey_running_seen += any(
                    r.point == "running" and r.value is True for r in readings
                )
            message = Telemetry(self.site.id, device_id, self.clock.now(), self.seq, readings)
            out.extend(self.engine.evaluate(message))
        out.extend(self.engine.tick())
        return out

    def run(self, seconds: int, *, step: float, every: int) -> list[Transition]:
        """Advance by `step` seconds at a time, sampling every `every` steps."""
        out = self.sample()
        for n in range(1, int(seconds / step) + 1):
            self.model.tick(step)
            self.clock.advance(step)
            if n % every == 0:
                out.extend(self.sample())
        return out


def test_a_normal_day_of_a_healthy_site_raises_nothing() -> None:
    day = Day(load_site(EXAMPLE))
    jockey = day.model.pump("jockey-1")
    starts = jockey.starts
    # 24 h, the water model stepped every 2 s, every device sampled every 10 s.
    assert day.run(86400, step=2.0, every=5) == []
    assert jockey.starts - starts > 100  # the jockey kept the main up all day
    assert day.jockey_running_seen > 50
    assert day.engine.isolations() == []


def test_two_hours_sampled_every_second_raise_nothing() -> None:
    # Every jockey run is seen from start to stop: starts are counted and runs timed.
    day = Day(load_site(EXAMPLE))
    starts = day.model.pump("jockey-1").starts
    assert day.run(7200, step=1.0, every=1) == []
    assert day.model.pump("jockey-1").starts - starts >= 10
