"""Pump rules: fail to start, power faults, pump controller in manual, jockey short cycling."""

from __future__ import annotations

import pytest

from fireroom.domain import Quality, Severity
from services.rules import (
    DEVICE_FAULT,
    JOCKEY_SHORT_CYCLING,
    PUMP_FAIL_TO_START,
    PUMP_POWER_FAULT,
    SYSTEM_IN_MANUAL,
    Transition,
)
from tests.services.rules_site import LOST, SITE, Driver, cleared, keys, make_site, raised

PUMP = f"{SITE}/pump-1"
JOCKEY = f"{SITE}/jockey-1"
MODE = f"{SITE}/pump-1/mode"


@pytest.fixture
def run() -> Driver:
    return Driver()


# pump_fail_to_start


def test_demand_without_a_run_raises_after_the_start_timeout(run: Driver) -> None:
    assert run.scan("pump-1", 0.0, demand=True) == []
    assert run.scan("pump-1", 29.9, demand=True) == []
    incident = raised(run.scan("pump-1", 30.0, demand=True))
    assert (incident.rule, incident.subject) == (PUMP_FAIL_TO_START, PUMP)
    assert incident.severity is Severity.CRITICAL
    assert (incident.device, incident.point) == ("pump-1", None)
    assert incident.detail == {"reasons": ["no_run"], "timeout_seconds": 30.0}
    assert run.scan("pump-1", 60.0, demand=True) == []
    # It runs at last: cleared.
    assert keys(run.scan("pump-1", 61.0, demand=True, running=True)) == [
        ("Clear", PUMP_FAIL_TO_START, PUMP)
    ]


def test_a_pump_that_starts_in_time_raises_nothing(run: Driver) -> None:
    assert run.scan("pump-1", 0.0, demand=True) == []
    assert run.scan("pump-1", 12.0, demand=True, running=True) == []
    assert run.scan("pump-1", 600.0, demand=True, running=True) == []
    assert run.scan("pump-1", 601.0) == []


def test_fail_to_start_clears_when_the_demand_goes_away(run: Driver) -> None:
    run.scan("pump-1", 0.0, demand=True)
    raised(run.scan("pump-1", 31.0, demand=True))
    assert keys(run.scan("pump-1", 40.0)) == [("Clear", PUMP_FAIL_TO_START, PUMP)]


def test_a_start_command_counts_like_demand(run: Driver) -> None:
    run.scan("pump-1", 0.0, remote_start=True)
    assert raised(run.scan("pump-1", 30.0, remote_start=True)).rule == PUMP_FAIL_TO_START


def test_a_short_demand_is_no_failure(run: Driver) -> None:
    run.scan("pump-1", 0.0, demand=True)
    assert run.scan("pump-1", 20.0) == []
    assert run.scan("pump-1", 40.0, demand=True) == []
    assert run.scan("pump-1", 69.0, demand=True) == []
    assert raised(run.scan("pump-1", 70.0, demand=True)).rule == PUMP_FAIL_TO_START


def test_motors_above_132_kw_get_55_seconds() -> None:
    run = Driver(make_site({"pump-1": {"pump": {"kind": "main", "rated_kw": 160}}}))
    run.scan("pump-1", 0.0, demand=True)
    assert run.scan("pump-1", 54.0, demand=True) == []
    assert raised(run.scan("pump-1", 55.0, demand=True)).detail["timeout_seconds"] == 55.0


def test_the_start_timeout_is_set_per_device() -> None:
    site = make_site({"pump-1": {"rules": {"pump_fail_to_start": {"start_timeout": 10}}}})
    run = Driver(site)
    run.scan("pump-1", 0.0, demand=True)
    run.scan("jockey-1", 0.0, demand=True)
    assert keys(run.scan("pump-1", 10.0, demand=True)) == [("Raise", PUMP_FAIL_TO_START, PUMP)]
    assert run.scan("jockey-1", 10.0, demand=True) == []
    assert keys(run.scan("jockey-1", 30.0, demand=True)) == [
        ("Raise", PUMP_FAIL_TO_START, JOCKEY)
    ]


def test_the_controllers_fail_to_start_flag_is_the_same_incident(run: Driver) -> None:
    run.scan("pump-1", 0.0, demand=True)
    first = raised(run.scan("pump-1", 20.0, demand=True, alarms=["fail_to_start"]))
    assert first.detail["reasons"] == ["controller"]
    # The engine's own timeout joins the same incident: an update, not a second incident.
    update = raised(run.scan("pump-1", 30.0, demand=True, alarms=["fail_to_start"]))
    assert (update.rule, update.subject) == (PUMP_FAIL_TO_START, PUMP)
    assert update.detail["reasons"] == ["controller", "no_run"]
    # Not a device_fault as well.
    assert all(t.rule != DEVICE_FAULT for t in run.scan("pump-1", 31.0, alarms=["fail_to_start"]))
    # Demand gone, but the controller still latches its alarm: still active until reset.
    assert run.scan("pump-1", 40.0, alarms=["fail_to_start"]) == []
    assert keys(run.scan("pump-1", 50.0)) == [("Clear", PUMP_FAIL_TO_START, PUMP)]


@pytest.mark.parametrize("quality", [Quality.COMM_LOST, Quality.BAD, Quality.STALE])
def test_untrusted_running_neither_raises_nor_clears(run: Driver, quality: Quality) -> None:
    run.scan("pump-1", 0.0, demand=True)
    assert run.scan("pump-1", 40.0, demand=True, running=(False, quality)) == []
    assert run.scan("pump-1", 41.0, demand=(True, quality), running=False) == []
    raised(run.scan("pump-1", 42.0, demand=True))
    assert run.scan("pump-1", 50.0, demand=True, running=(True, quality)) == []
    assert run.scan("pump-1", 51.0, demand=(False, quality)) == []
    cleared(run.scan("pump-1", 52.0, demand=False))


def test_a_lost_controller_keeps_its_fail_to_start(run: Driver) -> None:
    run.scan("pump-1", 0.0, demand=True)
    raised(run.scan("pump-1", 30.0, demand=True))
    lost = dict.fromkeys(("running", "demand", "remote_start", "mode", "alarms"), LOST)
    assert run.scan("pump-1", 31.0, **lost) == []


def test_fail_to_start_is_restored_and_cleared_by_a_run(run: Driver) -> None:
    assert run.engine.restore(PUMP_FAIL_TO_START, PUMP, {"reasons": ["no_run"]})
    assert run.scan("pump-1", 0.0, demand=True) == []
    assert run.scan("pump-1", 100.0, demand=True) == []
    cleared(run.scan("pump-1", 101.0, demand=True, running=True))


def test_a_restored_controller_flag_stays_until_the_words_are_read(run: Driver) -> None:
    assert run.engine.restore(PUMP_FAIL_TO_START, PUMP, {"reasons": ["controller"]})
    assert run.scan("pump-1", 0.0, alarms=["fail_to_start"], alarms_2=LOST) == []
    assert run.scan("pump-1", 1.0, alarms=[], alarms_2=LOST) == []
    cleared(run.scan("pump-1", 2.0))


# pump_power_fault


def test_power_loss_raises_critical_and_clears(run: Driver) -> None:
    subject = f"{SITE}/pump-1/alarms"
    incident = raised(run.scan("pump-1", 0.0, alarms=["power_loss"]))
    assert (incident.rule, incident.subject) == (PUMP_POWER_FAULT, subject)
    assert incident.severity is Severity.CRITICAL
    update = raised(run.scan("pump-1", 1.0, alarms=["power_loss", "phase_reversal"]))
    assert update.detail == {"flags": ["phase_reversal", "power_loss"]}
    assert run.scan("pump-1", 2.0, alarms=LOST) == []
    assert keys(run.scan("pump-1", 3.0)) == [("Clear", PUMP_POWER_FAULT, subject)]


def test_power_fault_flags_are_configurable() -> None:
    run = Driver(make_site(pump_power_fault={"flags": ["under_voltage"]}))
    rules = [t.rule for t in run.scan("pump-1", 0.0, alarms=["under_voltage", "power_loss"])]
    assert sorted(rules) == [DEVICE_FAULT, PUMP_POWER_FAULT]
    assert raised(run.scan("jockey-1", 0.0, alarms=["under_voltage"])).rule == PUMP_POWER_FAULT


# system_in_manual on a pump controller


def test_pump_in_manual_longer_than_ten_minutes(run: Driver) -> None:
    assert run.scan("pump-1", 0.0, mode="manual") == []
    assert run.scan("pump-1", 599.0, mode="manual") == []
    incident = raised(run.scan("pump-1", 600.0, mode="manual"))
    assert (incident.rule, incident.subject) == (SYSTEM_IN_MANUAL, MODE)
    assert incident.severity is Severity.MAJOR
    assert incident.detail == {"since": 0.0, "mode": "manual"}
    assert run.scan("pump-1", 700.0, mode="manual") == []
    # Manual to off is still not automatic: the same incident, updated.
    assert raised(run.scan("pump-1", 701.0, mode="off")).detail["mode"] == "off"
    assert run.scan("pump-1", 702.0, mode=LOST) == []
    assert keys(run.scan("pump-1", 703.0)) == [("Clear", SYSTEM_IN_MANUAL, MODE)]


def test_a_short_spell_in_manual_raises_nothing(run: Driver) -> None:
    run.scan("pump-1", 0.0, mode="manual")
    assert run.scan("pump-1", 300.0) == []
    assert run.scan("pump-1", 400.0, mode="off") == []
    assert run.scan("pump-1", 999.0, mode="off") == []


def test_a_pump_run_by_hand_in_manual_counts_from_when_it_stops(run: Driver) -> None:
    run.scan("pump-1", 0.0, mode="manual", running=True)
    assert run.scan("pump-1", 1800.0, mode="manual", running=True) == []
    assert run.scan("pump-1", 1801.0, mode="manual") == []
    assert run.scan("pump-1", 2400.0, mode="manual") == []
    assert raised(run.scan("pump-1", 2401.0, mode="manual")).rule == SYSTEM_IN_MANUAL
    # Running by hand again does not clear it: the selector is still not in auto.
    assert run.scan("pump-1", 2500.0, mode="manual", running=True) == []


def test_manual_can_be_ignored_per_device() -> None:
    run = Driver(make_site({"pump-1": {"rules": {"system_in_manual": {"enabled": False}}}}))
    run.scan("pump-1", 0.0, mode="off")
    run.scan("jockey-1", 0.0, mode="off")
    assert run.scan("pump-1", 3600.0, mode="off") == []
    assert raised(run.scan("jockey-1", 3600.0, mode="off")).subject == f"{SITE}/jockey-1/mode"


def test_manual_limit_is_configurable() -> None:
    run = Driver(make_site(system_in_manual={"after_seconds": 60}))
    run.scan("pump-1", 0.0, mode="manual")
    assert raised(run.scan("pump-1", 60.0, mode="manual")).rule == SYSTEM_IN_MANUAL


def test_restored_manual_clears_back_in_auto(run: Driver) -> None:
    assert run.engine.restore(SYSTEM_IN_MANUAL, MODE, {"since": 0.0, "mode": "manual"})
    assert run.scan("pump-1", 5000.0, mode="manual") == []
    cleared(run.scan("pump-1", 5001.0))


# jockey_short_cycling


def cycle(run: Driver, start: float, seconds: float = 20.0) -> list[Transition]:
    """One jockey run: stopped, running from `start` for `seconds`, stopped."""
    out: list[Transition] = []
    out += run.scan("jockey-1", start - 1.0)
    out += run.scan("jockey-1", start, running=True)
    out += run.scan("jockey-1", start + seconds)
    return out


def test_sixteen_starts_in_an_hour_is_short_cycling(run: Driver) -> None:
    for i in range(15):
        assert cycle(run, 100.0 + i * 200.0) == []
    transitions = cycle(run, 3100.0)
    incident = raised(transitions)
    assert (incident.rule, incident.subject) == (JOCKEY_SHORT_CYCLING, JOCKEY)
    assert incident.severity is Severity.MINOR
    assert incident.detail == {"reasons": ["starts"], "starts_last_hour": 16}


def test_short_cycling_clears_with_hysteresis(run: Driver) -> None:
    for i in range(16):
        cycle(run, 100.0 + i * 100.0)  # 16 starts, 100 s to 1600 s: raised at the 16th
    # From 3700 s one start a 100 s leaves the hour; the incident holds down to 15 - 3 starts.
    assert run.scan("jockey-1", 3750.0) == []  # 15 left
    assert run.scan("jockey-1", 3950.0) == []  # 13 left
    assert keys(run.scan("jockey-1", 4050.0)) == [("Clear", JOCKEY_SHORT_CYCLING, JOCKEY)]


def test_a_run_longer_than_ten_minutes(run: Driver) -> None:
    run.scan("jockey-1", 0.0)
    assert run.scan("jockey-1", 1.0, running=True) == []
    assert run.scan("jockey-1", 600.0, running=True) == []
    incident = raised(run.scan("jockey-1", 601.0, running=True))
    assert incident.detail["reasons"] == ["long_run"]
    assert run.scan("jockey-1", 700.0, running=LOST) == []
    assert keys(run.scan("jockey-1", 701.0)) == [("Clear", JOCKEY_SHORT_CYCLING, JOCKEY)]


def test_the_fire_pump_is_not_judged_as_a_jockey(run: Driver) -> None:
    for i in range(20):
        assert run.scan("pump-1", i * 100.0) == []
        assert run.scan("pump-1", i * 100.0 + 1, running=True) == []
    assert run.scan("pump-1", 5000.0, running=True) == []


def test_a_run_seen_through_a_gap_is_one_start(run: Driver) -> None:
    out: list[Transition] = []
    for i in range(16):
        start = 100.0 + i * 200.0
        out += run.scan("jockey-1", start - 1)
        for second in range(0, 20, 2):
            out += run.scan("jockey-1", start + second, running=True)
            out += run.scan("jockey-1", start + second + 1, running=LOST)
    assert raised(out).detail["starts_last_hour"] == 16


def test_starts_after_a_gap_with_the_pump_stopped_before_count(run: Driver) -> None:
    for i in range(16):
        start = 100.0 + i * 200.0
        run.scan("jockey-1", start - 2)
        run.scan("jockey-1", start - 1, running=LOST)
        if i < 15:
            assert run.scan("jockey-1", start, running=True) == []
    assert keys(run.scan("jockey-1", 3300.0, running=True)) == [
        ("Raise", JOCKEY_SHORT_CYCLING, JOCKEY)
    ]


def test_a_restored_short_cycling_waits_an_hour_of_history_before_clearing(run: Driver) -> None:
    assert run.engine.restore(JOCKEY_SHORT_CYCLING, JOCKEY, {"reasons": ["starts"]})
    assert not run.engine.restore(JOCKEY_SHORT_CYCLING, PUMP, {"reasons": ["starts"]})
    assert run.scan("jockey-1", 0.0) == []
    assert run.scan("jockey-1", 3599.0) == []
    cleared(run.scan("jockey-1", 3600.0))
