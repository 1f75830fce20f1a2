"""Fire water tank: low level and low temperature."""

from __future__ import annotations

import pytest

from fireroom.domain import Quality, Severity
from services.rules import TANK_LOW_LEVEL, TANK_LOW_TEMPERATURE
from tests.services.rules_site import SITE, Driver, cleared, keys, make_site, raised

LEVEL = f"{SITE}/ai-1/tank_level"
TEMPERATURE = f"{SITE}/ai-1/tank_temperature"


@pytest.fixture
def run() -> Driver:
    return Driver()


def test_low_level_hold_and_hysteresis(run: Driver) -> None:
    # low_limit 2.5 m on the point; hold 30 s, hysteresis 0.05 m by default.
    assert run.scan("ai-1", 0.0, tank_level=2.4) == []
    assert run.scan("ai-1", 29.0, tank_level=2.4) == []
    incident = raised(run.scan("ai-1", 30.0, tank_level=2.4))
    assert (incident.rule, incident.subject) == (TANK_LOW_LEVEL, LEVEL)
    assert incident.severity is Severity.MAJOR
    assert incident.detail == {"value": 2.4, "limit": 2.5, "unit": "m"}
    assert run.scan("ai-1", 40.0, tank_level=2.52) == []
    assert keys(run.scan("ai-1", 41.0, tank_level=2.56)) == [("Clear", TANK_LOW_LEVEL, LEVEL)]


def test_sloshing_below_the_limit_raises_nothing(run: Driver) -> None:
    for second in range(0, 600, 20):
        assert run.scan("ai-1", float(second), tank_level=2.45) == []
        assert run.scan("ai-1", second + 10.0, tank_level=2.6) == []


def test_a_level_point_without_a_limit_is_only_watched_for_sensor_health() -> None:
    site = make_site({"ai-1": {"points": [
        {"name": "tank_level", "index": 2, "role": "level",
         "transmitter": {"low": 0.0, "high": 5.0, "unit": "m"}},
    ]}})
    run = Driver(site)
    run.scan("ai-1", 0.0, tank_level=0.1)
    assert run.scan("ai-1", 600.0, tank_level=0.1) == []


def test_a_site_wide_level_threshold() -> None:
    site = make_site(
        {"ai-1": {"points": [
            {"name": "tank_level", "index": 2, "role": "level",
             "transmitter": {"low": 0.0, "high": 5.0, "unit": "m"}},
        ]}},
        tank_low_level={"threshold": 1.0, "hold_seconds": 0},
    )
    assert keys(Driver(site).scan("ai-1", 0.0, tank_level=0.9)) == [
        ("Raise", TANK_LOW_LEVEL, LEVEL)
    ]


def test_low_temperature_below_five_degrees(run: Driver) -> None:
    assert run.scan("ai-1", 0.0, tank_temperature=4.9) == []
    incident = raised(run.scan("ai-1", 60.0, tank_temperature=4.8))
    assert (incident.rule, incident.subject) == (TANK_LOW_TEMPERATURE, TEMPERATURE)
    assert incident.severity is Severity.MAJOR
    assert incident.detail["limit"] == 5.0
    assert run.scan("ai-1", 100.0, tank_temperature=5.3) == []
    cleared(run.scan("ai-1", 101.0, tank_temperature=5.6))


@pytest.mark.parametrize(
    "quality", [Quality.COMM_LOST, Quality.BAD, Quality.STALE, Quality.OUT_OF_RANGE]
)
def test_untrusted_tank_readings_neither_raise_nor_clear(run: Driver, quality: Quality) -> None:
    def tank_rules(ts: float, **points: object) -> list[str]:
        rules = (TANK_LOW_LEVEL, TANK_LOW_TEMPERATURE)
        return [t.rule for t in run.scan("ai-1", ts, **points) if t.rule in rules]

    assert tank_rules(0.0, tank_level=(0.0, quality), tank_temperature=(-10.0, quality)) == []
    assert tank_rules(100.0, tank_level=(0.0, quality), tank_temperature=(-10.0, quality)) == []
    run.scan("ai-1", 200.0, tank_level=1.0)
    assert tank_rules(230.0, tank_level=1.0) == [TANK_LOW_LEVEL]
    assert tank_rules(240.0, tank_level=(3.0, quality)) == []


def test_temperature_threshold_per_device() -> None:
    site = make_site({"ai-1": {"rules": {"tank_low_temperature": {"threshold": 8.0}}}})
    run = Driver(site)
    run.scan("ai-1", 0.0, tank_temperature=7.0)
    assert raised(run.scan("ai-1", 60.0, tank_temperature=7.0)).detail["limit"] == 8.0
