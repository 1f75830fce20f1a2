"""Sensor health: NAMUR NE 43 out-of-range warnings, beside the failure rule."""

from __future__ import annotations

import pytest

from fireroom.domain import Quality, Severity
from services.rules import SENSOR_FAILED, SENSOR_OUT_OF_RANGE
from tests.services.rules_site import LOST, SITE, Driver, cleared, keys, make_site, raised

LEVEL = f"{SITE}/ai-1/tank_level"
UNDER = (-0.03, Quality.OUT_OF_RANGE)  # 3.7 mA on a 0-5 m transmitter


@pytest.fixture
def run() -> Driver:
    return Driver()


def test_out_of_range_for_the_hold_time_raises_minor(run: Driver) -> None:
    assert run.scan("ai-1", 0.0, tank_level=(-0.03, Quality.OUT_OF_RANGE)) == []
    assert run.scan("ai-1", 29.0, tank_level=UNDER) == []
    incident = raised(run.scan("ai-1", 30.0, tank_level=UNDER))
    assert (incident.rule, incident.subject) == (SENSOR_OUT_OF_RANGE, LEVEL)
    assert incident.severity is Severity.MINOR
    assert run.scan("ai-1", 40.0, tank_level=UNDER) == []
    assert keys(run.scan("ai-1", 41.0)) == [("Clear", SENSOR_OUT_OF_RANGE, LEVEL)]


def test_a_value_flickering_at_the_band_edge_raises_nothing(run: Driver) -> None:
    for second in range(0, 300, 2):
        assert run.scan("ai-1", float(second), tank_level=UNDER) == []
        assert run.scan("ai-1", second + 1.0) == []


@pytest.mark.parametrize("quality", [Quality.COMM_LOST, Quality.BAD, Quality.STALE])
def test_untrusted_readings_neither_time_nor_clear_out_of_range(
    run: Driver, quality: Quality
) -> None:
    run.scan("ai-1", 0.0, tank_level=UNDER)
    raised(run.scan("ai-1", 30.0, tank_level=UNDER))
    assert run.scan("ai-1", 31.0, tank_level=(None, quality)) == []
    assert run.scan("ai-1", 32.0, tank_level=(3.0, quality)) == []
    cleared(run.scan("ai-1", 33.0))


def test_a_failed_sensor_keeps_its_out_of_range_open(run: Driver) -> None:
    run.scan("ai-1", 0.0, tank_level=UNDER)
    raised(run.scan("ai-1", 30.0, tank_level=UNDER))
    failed = run.scan("ai-1", 31.0, tank_level=(None, Quality.SENSOR_FAILED))
    assert keys(failed) == [("Raise", SENSOR_FAILED, LEVEL)]
    # Back to out of range: the failure clears, the warning was never gone.
    assert keys(run.scan("ai-1", 32.0, tank_level=UNDER)) == [("Clear", SENSOR_FAILED, LEVEL)]
    assert keys(run.scan("ai-1", 33.0)) == [("Clear", SENSOR_OUT_OF_RANGE, LEVEL)]


def test_out_of_range_hold_is_configurable() -> None:
    run = Driver(make_site(sensor_out_of_range={"hold_seconds": 0}))
    assert raised(run.scan("ai-1", 0.0, tank_level=UNDER)).rule == SENSOR_OUT_OF_RANGE


def test_out_of_range_can_be_switched_off() -> None:
    run = Driver(make_site(sensor_out_of_range={"enabled": False}))
    run.scan("ai-1", 0.0, tank_level=UNDER)
    assert run.scan("ai-1", 100.0, tank_level=UNDER) == []


def test_restored_out_of_range_clears_on_a_good_reading(run: Driver) -> None:
    assert run.engine.restore(SENSOR_OUT_OF_RANGE, LEVEL)
    assert run.scan("ai-1", 0.0, tank_level=LOST) == []
    cleared(run.scan("ai-1", 1.0))
