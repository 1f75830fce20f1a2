"""Pressure rules: high pressure, pressure decay with the pumps stopped, flatlined sensors."""

from __future__ import annotations

import pytest

from fireroom.domain import Quality, Severity
from services.rules import (
    HIGH_PRESSURE,
    LOW_PRESSURE,
    PRESSURE_DECAY,
    SENSOR_FLATLINE,
    Raise,
    Transition,
)
from tests.services.rules_site import LOST, SITE, Driver, cleared, keys, make_site, raised

MAIN = f"{SITE}/ai-1/main_pressure"
RISER = f"{SITE}/ai-1/riser_pressure"


@pytest.fixture
def run() -> Driver:
    return Driver()


def only(rule: str, transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions if t.rule == rule]


def pumps_stopped(run: Driver, ts: float) -> None:
    run.scan("pump-1", ts)
    run.scan("jockey-1", ts)


# high_pressure


def test_high_pressure_hold_and_hysteresis(run: Driver) -> None:
    assert run.scan("ai-1", 0.0, main_pressure=1.25) == []
    assert run.scan("ai-1", 4.9, main_pressure=1.3) == []
    incident = raised(run.scan("ai-1", 5.0, main_pressure=1.3))
    assert (incident.rule, incident.subject) == (HIGH_PRESSURE, MAIN)
    assert incident.severity is Severity.MAJOR
    assert incident.detail == {"value": 1.3, "limit": 1.2, "unit": "MPa"}
    # Back at the limit, but not below limit - hysteresis: still high.
    assert run.scan("ai-1", 6.0, main_pressure=1.19) == []
    assert run.scan("ai-1", 7.0, main_pressure=1.18) == []
    assert keys(run.scan("ai-1", 8.0, main_pressure=1.17)) == [("Clear", HIGH_PRESSURE, MAIN)]


def test_a_pressure_spike_shorter_than_the_hold_raises_nothing(run: Driver) -> None:
    assert run.scan("ai-1", 0.0, main_pressure=1.5) == []
    assert run.scan("ai-1", 4.0, main_pressure=1.5) == []
    assert run.scan("ai-1", 4.5, main_pressure=0.9) == []
    assert run.scan("ai-1", 9.0, main_pressure=1.5) == []


def test_high_pressure_uses_the_points_high_limit(run: Driver) -> None:
    run.scan("ai-1", 0.0, riser_pressure=0.95)
    assert keys(run.scan("ai-1", 5.0, riser_pressure=0.95)) == [("Raise", HIGH_PRESSURE, RISER)]


def test_high_pressure_threshold_per_site() -> None:
    run = Driver(make_site(high_pressure={"threshold": 1.0, "hold_seconds": 0}))
    assert keys(run.scan("ai-1", 0.0, main_pressure=1.01)) == [("Raise", HIGH_PRESSURE, MAIN)]


@pytest.mark.parametrize(
    "quality", [Quality.COMM_LOST, Quality.BAD, Quality.STALE, Quality.OUT_OF_RANGE]
)
def test_untrusted_pressure_neither_raises_nor_clears(run: Driver, quality: Quality) -> None:
    assert only(HIGH_PRESSURE, run.scan("ai-1", 0.0, main_pressure=(1.6, quality))) == []
    assert only(HIGH_PRESSURE, run.scan("ai-1", 60.0, main_pressure=(1.6, quality))) == []
    run.scan("ai-1", 100.0, main_pressure=1.4)
    raised(run.scan("ai-1", 105.0, main_pressure=1.4))
    assert only(HIGH_PRESSURE, run.scan("ai-1", 106.0, main_pressure=(0.5, quality))) == []


def test_an_out_of_range_reading_is_no_low_pressure(run: Driver) -> None:
    # 3.7 mA reads slightly below 0 MPa: the transmitter's warning, not a pressure.
    low = (-0.01, Quality.OUT_OF_RANGE)
    assert all(t.rule != LOW_PRESSURE for t in run.scan("ai-1", 0.0, main_pressure=low))
    assert all(t.rule != LOW_PRESSURE for t in run.scan("ai-1", 60.0, main_pressure=low))


# pressure_decay


def falling(
    run: Driver, start: float, until: float, rate: float, *, every: float = 10.0,
    pressure: float = 0.70, pumps: bool = True,
) -> list[Transition]:
    """Main pressure falling at `rate` MPa/min from `pressure`, sampled every `every` s."""
    out: list[Transition] = []
    ts = start
    while ts <= until:
        if pumps:
            pumps_stopped(run, ts)
        value = round(pressure - rate * (ts - start) / 60.0, 6)
        out += run.scan("ai-1", ts, main_pressure=value, riser_pressure=value - 0.25)
        ts += every
    return out


def test_a_fast_decay_with_the_pumps_stopped_is_a_leak(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    # The pumps have just stopped: the first minute only settles.
    out = falling(run, 0.0, 240.0, 0.05)
    assert keys(out) == [("Raise", PRESSURE_DECAY, MAIN), ("Raise", PRESSURE_DECAY, RISER)]
    incident = out[0]
    assert isinstance(incident, Raise)
    assert incident.severity is Severity.MINOR
    assert incident.detail["rate"] == pytest.approx(0.05)
    assert incident.detail["unit"] == "MPa/min"
    assert incident.detail["limit"] == 0.03


def test_the_decay_needs_two_minutes_after_the_pumps_settled(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    assert falling(run, 0.0, 179.0, 0.05) == []  # settle 60 s + 120 s of decay
    assert falling(run, 180.0, 180.0, 0.05, pressure=0.70 - 0.05 * 3) != []


def test_a_healthy_decay_raises_nothing(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    # A healthy main with a small leak: ~0.02 MPa/min, the jockey starts every few minutes.
    assert falling(run, 0.0, 900.0, 0.02) == []


def test_no_decay_while_a_pump_runs(run: Driver) -> None:
    run.scan("pump-1", 0.0)
    out: list[Transition] = []
    for ts in range(0, 900, 10):
        out += run.scan("jockey-1", float(ts), running=True)
        out += run.scan("ai-1", float(ts), main_pressure=0.70 - 0.1 * ts / 60.0)
    assert [t for t in out if t.rule == PRESSURE_DECAY] == []


def test_no_decay_while_a_pumps_state_is_unknown(run: Driver) -> None:
    run.scan("pump-1", 0.0)
    run.scan("jockey-1", 0.0, running=LOST)
    assert only(PRESSURE_DECAY, falling(run, 0.0, 900.0, 0.05, pumps=False)) == []
    # A pump never read since the engine started is unknown too.
    fresh = Driver()
    fresh.scan("pump-1", 0.0)
    assert only(PRESSURE_DECAY, falling(fresh, 0.0, 900.0, 0.05, pumps=False)) == []


def test_a_pump_start_spoils_the_stretch_and_the_clock_restarts(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    assert falling(run, 0.0, 150.0, 0.05) == []
    run.scan("jockey-1", 155.0, running=True)
    run.scan("jockey-1", 165.0)
    # Pumps stopped again at 165: settle until 225, then 120 s of decay are needed.
    assert falling(run, 170.0, 340.0, 0.05, pumps=False) == []
    assert keys(falling(run, 350.0, 350.0, 0.05, pumps=False, pressure=0.55))[0] == (
        "Raise", PRESSURE_DECAY, MAIN
    )


def test_the_decay_clears_on_a_slow_stretch_with_hysteresis(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    assert falling(run, 0.0, 240.0, 0.05) != []
    # The jockey refills the main; then the leak is fixed.
    run.scan("jockey-1", 250.0, running=True)
    run.scan("jockey-1", 260.0)
    # 0.028 MPa/min: below the limit but not by the hysteresis (0.005): still active.
    assert falling(run, 270.0, 900.0, 0.028, pressure=0.7) == []
    run.scan("jockey-1", 910.0, running=True)
    run.scan("jockey-1", 920.0)
    out = falling(run, 930.0, 1200.0, 0.01, pressure=0.7)
    assert keys(out) == [("Clear", PRESSURE_DECAY, MAIN), ("Clear", PRESSURE_DECAY, RISER)]


def test_untrusted_pressure_readings_are_left_out_of_the_decay(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    out: list[Transition] = []
    for ts in range(0, 600, 10):
        pumps_stopped(run, float(ts))
        value = (0.1, Quality.COMM_LOST) if ts % 20 else 0.7
        out += run.scan("ai-1", float(ts), main_pressure=value)
    assert out == []


def test_decay_rate_is_configurable_per_device() -> None:
    site = make_site({"ai-1": {"rules": {"pressure_decay": {"rate": 0.01}}}})
    run = Driver(site)
    pumps_stopped(run, 0.0)
    assert PRESSURE_DECAY in {t.rule for t in falling(run, 0.0, 600.0, 0.02)}


# sensor_flatline


def jockey_cycle(run: Driver, ts: float) -> None:
    run.scan("jockey-1", ts)
    run.scan("jockey-1", ts + 1, running=True)
    run.scan("jockey-1", ts + 10)


def test_a_stuck_pressure_while_the_jockey_cycles_is_a_flatline(run: Driver) -> None:
    out: list[Transition] = []
    for minute in range(0, 6 * 60 + 1, 5):
        ts = minute * 60.0
        if minute % 20 == 0:
            jockey_cycle(run, ts)
        # The riser follows the jockey's cycles; the main transmitter is stuck at 0.6.
        riser = 0.45 if minute % 20 < 10 else 0.35
        out += run.scan("ai-1", ts + 5, main_pressure=0.6004, riser_pressure=riser)
    incident = raised(out)
    assert (incident.rule, incident.subject) == (SENSOR_FLATLINE, MAIN)
    assert incident.severity is Severity.MINOR
    assert incident.detail["value"] == 0.6004
    assert incident.detail["jockey_starts"] >= 3
    assert keys(run.scan("ai-1", 30000.0, main_pressure=0.55)) == [
        ("Clear", SENSOR_FLATLINE, MAIN)
    ]


def test_a_steady_pressure_without_jockey_starts_is_no_flatline(run: Driver) -> None:
    for hour in range(13):
        assert run.scan("ai-1", hour * 3600.0, main_pressure=0.6) == []


def test_noise_within_epsilon_is_still_flat(run: Driver) -> None:
    out: list[Transition] = []
    for i in range(7 * 12):
        ts = i * 300.0
        if i % 4 == 0:
            jockey_cycle(run, ts)
        noise = 0.004 if i % 2 else -0.004
        out += run.scan("ai-1", ts + 20, main_pressure=0.6 + noise, riser_pressure=0.3 + i % 2)
    assert keys(out) == [("Raise", SENSOR_FLATLINE, MAIN)]


def test_flatline_hours_are_configurable() -> None:
    run = Driver(make_site(sensor_flatline={"after_seconds": 3600, "min_jockey_starts": 1}))
    run.scan("ai-1", 0.0, main_pressure=0.6, riser_pressure=0.3)
    jockey_cycle(run, 100.0)
    assert run.scan("ai-1", 3599.0, main_pressure=0.6, riser_pressure=0.4) == []
    incident = raised(run.scan("ai-1", 3600.0, main_pressure=0.6, riser_pressure=0.3))
    assert (incident.rule, incident.subject) == (SENSOR_FLATLINE, MAIN)


def test_a_restored_flatline_clears_when_the_value_moves(run: Driver) -> None:
    assert run.engine.restore(SENSOR_FLATLINE, MAIN, {"value": 0.6, "since": 0.0})
    assert run.scan("ai-1", 10.0, main_pressure=0.6) == []
    cleared(run.scan("ai-1", 20.0, main_pressure=0.5))


def test_a_refill_no_pump_reading_showed_restarts_the_measurement(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    assert falling(run, 0.0, 240.0, 0.05) != []
    # The jockey ran between two polls: the pressure is back up, no pump was seen running.
    # That is no evidence the leak is gone, nor a new stretch to judge yet.
    assert only(PRESSURE_DECAY, falling(run, 250.0, 360.0, 0.0, pressure=0.7)) == []
    # A slow stretch after that clears it.
    assert keys(only(PRESSURE_DECAY, falling(run, 370.0, 600.0, 0.005, pressure=0.7))) == [
        ("Clear", PRESSURE_DECAY, MAIN),
        ("Clear", PRESSURE_DECAY, RISER),
    ]


def test_a_silent_pump_controller_is_not_a_stopped_pump(run: Driver) -> None:
    pumps_stopped(run, 0.0)
    run.clock.advance(2.0)
    for device in ("facp-1", "pump-1", "ai-1"):
        run.scan(device, 2.0)  # the jockey controller stays silent from here
    run.clock.advance(1.5)
    assert keys(run.engine.tick()) == [("Raise", "comm_loss", f"{SITE}/jockey-1")]
    for ts in range(10, 600, 10):
        run.scan("pump-1", float(ts))
        out = run.scan("ai-1", float(ts), main_pressure=0.7 - 0.05 * ts / 60.0)
        assert only(PRESSURE_DECAY, out) == []
