from __future__ import annotations

from typing import Any

import pytest

from fireroom.domain import Quality, Severity
from services.rules import (
    COMM_LOSS,
    DEVICE_FAULT,
    FIRE_ALARM,
    LOW_PRESSURE,
    PRE_ALARM,
    PUMP_POWER_FAULT,
    SENSOR_FAILED,
    Clear,
    Raise,
    RulesEngine,
)
from tests.services.helpers import (
    NORMAL_AI,
    NORMAL_FACP,
    NORMAL_PUMP,
    FakeClock,
    make_site,
    telemetry,
)

SITE = "eng"
SD1 = f"{SITE}/facp-1/L1-SD001"
SYSTEM = f"{SITE}/facp-1/system_status"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> RulesEngine:
    return RulesEngine(make_site(SITE), clock)


def facp(engine: RulesEngine, ts: float = 0.0, /, **points: Any) -> list[Raise | Clear]:
    return engine.evaluate(telemetry(SITE, "facp-1", ts, **{**NORMAL_FACP, **points}))


def pump(engine: RulesEngine, ts: float = 0.0, /, **points: Any) -> list[Raise | Clear]:
    return engine.evaluate(telemetry(SITE, "pump-1", ts, **{**NORMAL_PUMP, **points}))


def ai(engine: RulesEngine, ts: float = 0.0, /, **points: Any) -> list[Raise | Clear]:
    return engine.evaluate(telemetry(SITE, "ai-1", ts, **{**NORMAL_AI, **points}))


def keys(transitions: list[Raise | Clear]) -> list[tuple[str, str, str]]:
    return [(type(t).__name__, t.rule, t.subject) for t in transitions]


def test_a_normal_stream_raises_nothing(engine: RulesEngine, clock: FakeClock) -> None:
    for scan in range(300):
        ts = float(scan)
        assert facp(engine, ts) == []
        assert pump(engine, ts) == []
        assert ai(engine, ts) == []
        clock.advance(1.0)
        assert engine.tick() == []


def test_fire_point_raises_critical_and_clears(engine: RulesEngine) -> None:
    raised = facp(engine, **{"L1-SD001": ["fire", "started"]})
    assert keys(raised) == [("Raise", FIRE_ALARM, SD1)]
    assert isinstance(raised[0], Raise)
    assert raised[0].severity is Severity.CRITICAL
    assert raised[0].device == "facp-1"
    assert raised[0].point == "L1-SD001"
    # The same condition again is not a new transition.
    assert facp(engine, **{"L1-SD001": ["fire"]}) == []
    assert keys(facp(engine)) == [("Clear", FIRE_ALARM, SD1)]


def test_system_fire_needs_two_scans(engine: RulesEngine) -> None:
    assert facp(engine, system_status=["normal", "fire"]) == []
    assert keys(facp(engine, system_status=["normal", "fire"])) == [("Raise", FIRE_ALARM, SYSTEM)]
    assert keys(facp(engine)) == [("Clear", FIRE_ALARM, SYSTEM)]


def test_a_torn_single_scan_of_the_system_word_raises_nothing(engine: RulesEngine) -> None:
    assert facp(engine, system_status=["fire"]) == []
    assert facp(engine) == []
    assert facp(engine, system_status=["fire"]) == []
    assert facp(engine) == []


def test_system_fire_is_not_raised_when_a_point_explains_it(engine: RulesEngine) -> None:
    first = facp(engine, system_status=["fire"], **{"L1-SD002": ["fire"]})
    assert keys(first) == [("Raise", FIRE_ALARM, f"{SITE}/facp-1/L1-SD002")]
    for _ in range(5):
        assert facp(engine, system_status=["fire"], **{"L1-SD002": ["fire"]}) == []


def test_pre_alarm_and_supervisory(engine: RulesEngine) -> None:
    assert keys(facp(engine, **{"L1-SD001": ["pre_alarm"]})) == [("Raise", PRE_ALARM, SD1)]
    # Adding supervisory changes the flags behind it: an update, not a new incident.
    update = facp(engine, **{"L1-SD001": ["pre_alarm", "supervisory"]})
    assert isinstance(update[0], Raise)
    assert update[0].detail == {"flags": ["pre_alarm", "supervisory"]}
    assert keys(facp(engine)) == [("Clear", PRE_ALARM, SD1)]
    assert facp(engine, system_status=["supervisory"]) == []
    raised = facp(engine, system_status=["supervisory"])
    assert keys(raised) == [("Raise", PRE_ALARM, SYSTEM)]
    assert isinstance(raised[0], Raise)
    assert raised[0].severity is Severity.MAJOR


def test_point_and_system_faults(engine: RulesEngine) -> None:
    assert keys(facp(engine, **{"L1-SD001": ["fault"]})) == [("Raise", DEVICE_FAULT, SD1)]
    assert keys(facp(engine)) == [("Clear", DEVICE_FAULT, SD1)]
    # Power faults on the system word need no summary confirmation.
    raised = facp(engine, system_status=["normal", "mains_fault"])
    assert keys(raised) == [("Raise", DEVICE_FAULT, SYSTEM)]
    assert isinstance(raised[0], Raise)
    assert raised[0].detail == {"flags": ["mains_fault"]}
    # The summary fault bit joins after two scans with no point in fault.
    assert facp(engine, system_status=["mains_fault", "fault"]) == []
    joined = facp(engine, system_status=["mains_fault", "fault"])
    assert isinstance(joined[0], Raise)
    assert joined[0].detail == {"flags": ["fault", "mains_fault"]}
    assert keys(facp(engine)) == [("Clear", DEVICE_FAULT, SYSTEM)]


def test_system_fault_summary_is_ignored_while_a_point_is_in_fault(engine: RulesEngine) -> None:
    facp(engine, system_status=["fault"], **{"L1-SD001": ["fault"]})
    transitions = facp(engine, system_status=["fault"], **{"L1-SD001": ["fault"]})
    assert all(t.subject != SYSTEM for t in transitions)


def test_pump_alarm_severity_and_updates(engine: RulesEngine) -> None:
    subject = f"{SITE}/pump-1/alarms"
    raised = pump(engine, alarms=["under_voltage"])
    assert isinstance(raised[0], Raise)
    assert (raised[0].rule, raised[0].subject) == (DEVICE_FAULT, subject)
    assert raised[0].severity is Severity.MAJOR
    assert raised[0].detail == {"flags": ["under_voltage"]}
    # A locked rotor keeps the pump from running: the same incident, now critical.
    escalated = pump(engine, alarms=["under_voltage", "locked_rotor"])
    assert isinstance(escalated[0], Raise)
    assert escalated[0].severity is Severity.CRITICAL
    assert escalated[0].detail == {"flags": ["locked_rotor", "under_voltage"]}
    assert pump(engine, alarms=["locked_rotor", "under_voltage"]) == []
    assert keys(pump(engine)) == [("Clear", DEVICE_FAULT, subject)]


def test_pump_power_flags_are_their_own_incident(engine: RulesEngine) -> None:
    subject = f"{SITE}/pump-1/alarms"
    both = pump(engine, alarms=["under_voltage", "phase_loss_l2"])
    assert keys(both) == [("Raise", DEVICE_FAULT, subject), ("Raise", PUMP_POWER_FAULT, subject)]
    assert isinstance(both[0], Raise)
    assert both[0].detail == {"flags": ["under_voltage"]}
    assert isinstance(both[1], Raise)
    assert both[1].severity is Severity.CRITICAL
    assert both[1].detail == {"flags": ["phase_loss_l2"]}
    assert keys(pump(engine, alarms=["phase_loss_l2"])) == [("Clear", DEVICE_FAULT, subject)]
    assert keys(pump(engine)) == [("Clear", PUMP_POWER_FAULT, subject)]
    second = pump(engine, alarms_2=["control_voltage_unhealthy"])
    assert isinstance(second[0], Raise)
    assert (second[0].rule, second[0].subject) == (PUMP_POWER_FAULT, f"{SITE}/pump-1/alarms_2")
    assert second[0].severity is Severity.CRITICAL


def test_comm_loss_timing(engine: RulesEngine, clock: FakeClock) -> None:
    # poll_interval 1 s, intervals 3: lost after 3 s of silence.
    facp(engine)
    pump(engine)
    ai(engine)
    clock.advance(2.9)
    assert engine.tick() == []
    pump(engine)
    ai(engine)
    clock.advance(0.1)
    assert keys(engine.tick()) == [("Raise", COMM_LOSS, f"{SITE}/facp-1")]
    assert engine.tick() == []
    # A scan that reports every point lost is not a sign of life.
    lost = dict.fromkeys(NORMAL_FACP, (None, Quality.COMM_LOST))
    assert engine.evaluate(telemetry(SITE, "facp-1", **lost)) == []
    assert keys(facp(engine)) == [("Clear", COMM_LOSS, f"{SITE}/facp-1")]


def test_comm_loss_starts_counting_at_engine_start(clock: FakeClock) -> None:
    engine = RulesEngine(make_site(SITE), clock)
    clock.advance(2.99)
    assert engine.tick() == []
    clock.advance(0.01)
    assert {t.subject for t in engine.tick()} == {
        f"{SITE}/{d}" for d in ("facp-1", "pump-1", "ai-1")
    }


def test_comm_loss_limit_is_capped(clock: FakeClock) -> None:
    site = make_site(SITE, poll_interval=30.0, comm_loss={"intervals": 3, "cap_seconds": 20})
    engine = RulesEngine(site, clock)
    clock.advance(19.9)
    assert engine.tick() == []
    clock.advance(0.1)
    assert len(engine.tick()) == 3


def test_low_pressure_hold_and_hysteresis(engine: RulesEngine) -> None:
    subject = f"{SITE}/ai-1/main_pressure"
    assert ai(engine, 100.0, main_pressure=0.20) == []
    assert ai(engine, 104.9, main_pressure=0.21) == []
    raised = ai(engine, 105.0, main_pressure=0.22)
    assert keys(raised) == [("Raise", LOW_PRESSURE, subject)]
    assert isinstance(raised[0], Raise)
    assert raised[0].detail["limit"] == 0.30
    # Back at the threshold, but not above threshold + hysteresis: still low.
    assert ai(engine, 106.0, main_pressure=0.31) == []
    assert ai(engine, 107.0, main_pressure=0.32) == []
    assert keys(ai(engine, 108.0, main_pressure=0.33)) == [("Clear", LOW_PRESSURE, subject)]


def test_low_pressure_dip_shorter_than_hold_raises_nothing(engine: RulesEngine) -> None:
    assert ai(engine, 0.0, main_pressure=0.2) == []
    assert ai(engine, 4.0, main_pressure=0.2) == []
    assert ai(engine, 4.5, main_pressure=0.5) == []
    assert ai(engine, 8.0, main_pressure=0.2) == []
    assert ai(engine, 12.0, main_pressure=0.2) == []


def test_low_pressure_uses_the_points_own_low_limit(engine: RulesEngine) -> None:
    # riser_pressure has low_limit 0.10, below the site threshold 0.30.
    assert ai(engine, 0.0, riser_pressure=0.15) == []
    assert ai(engine, 10.0, riser_pressure=0.15) == []
    assert ai(engine, 20.0, riser_pressure=0.05) == []
    assert keys(ai(engine, 25.0, riser_pressure=0.05)) == [
        ("Raise", LOW_PRESSURE, f"{SITE}/ai-1/riser_pressure")
    ]


def test_sensor_failed_raise_and_clear(engine: RulesEngine) -> None:
    subject = f"{SITE}/ai-1/tank_level"
    raised = ai(engine, tank_level=(None, Quality.SENSOR_FAILED))
    assert keys(raised) == [("Raise", SENSOR_FAILED, subject)]
    assert ai(engine, tank_level=(None, Quality.SENSOR_FAILED)) == []
    assert ai(engine, tank_level=(None, Quality.COMM_LOST)) == []
    assert keys(ai(engine, tank_level=(-0.05, Quality.OUT_OF_RANGE))) == [
        ("Clear", SENSOR_FAILED, subject)
    ]


def test_a_failed_pressure_sensor_is_not_low_pressure(engine: RulesEngine) -> None:
    assert keys(ai(engine, 0.0, main_pressure=(None, Quality.SENSOR_FAILED))) == [
        ("Raise", SENSOR_FAILED, f"{SITE}/ai-1/main_pressure")
    ]
    assert ai(engine, 10.0, main_pressure=(None, Quality.SENSOR_FAILED)) == []


@pytest.mark.parametrize("quality", [Quality.COMM_LOST, Quality.BAD, Quality.STALE])
def test_untrusted_readings_never_clear_a_fire(engine: RulesEngine, quality: Quality) -> None:
    facp(engine, **{"L1-SD001": ["fire"]})
    assert facp(engine, **{"L1-SD001": (["normal"], quality)}) == []
    assert facp(engine, **{"L1-SD001": (None, quality)}) == []
    assert keys(facp(engine)) == [("Clear", FIRE_ALARM, SD1)]


@pytest.mark.parametrize("quality", [Quality.COMM_LOST, Quality.BAD, Quality.STALE])
def test_untrusted_readings_never_raise_value_rules(engine: RulesEngine, quality: Quality) -> None:
    assert facp(engine, **{"L1-SD001": (["fire"], quality)}) == []
    assert pump(engine, alarms=(["fail_to_start"], quality)) == []
    assert ai(engine, 0.0, main_pressure=(0.0, quality)) == []
    assert ai(engine, 60.0, main_pressure=(0.0, quality)) == []


def test_untrusted_pressure_never_clears_low_pressure(engine: RulesEngine) -> None:
    ai(engine, 0.0, main_pressure=0.1)
    assert len(ai(engine, 5.0, main_pressure=0.1)) == 1
    assert ai(engine, 6.0, main_pressure=(0.9, Quality.STALE)) == []
    assert ai(engine, 7.0, main_pressure=(None, Quality.COMM_LOST)) == []


def test_disabled_rules_stay_silent(clock: FakeClock) -> None:
    site = make_site(
        SITE,
        fire_alarm={"enabled": False},
        comm_loss={"enabled": False},
        device_fault={"enabled": False},
        pump_fail_to_start={"enabled": False},
    )
    engine = RulesEngine(site, clock)
    assert facp(engine, **{"L1-SD001": ["fire", "fault"]}) == []
    assert pump(engine, alarms=["fail_to_start"]) == []
    clock.advance(1000)
    assert engine.tick() == []
    assert keys(facp(engine, **{"L1-SD001": ["pre_alarm"]})) == [("Raise", PRE_ALARM, SD1)]


def test_unknown_devices_points_and_sites_are_ignored(engine: RulesEngine) -> None:
    assert engine.evaluate(telemetry(SITE, "nope", **{"L1-SD001": ["fire"]})) == []
    assert engine.evaluate(telemetry("other", "facp-1", **{"L1-SD001": ["fire"]})) == []
    assert facp(engine, **{"L9-XX": ["fire"]}) == []


def test_restored_incidents_clear_on_good_data(engine: RulesEngine, clock: FakeClock) -> None:
    assert engine.restore(FIRE_ALARM, SD1)
    assert engine.restore(COMM_LOSS, f"{SITE}/pump-1")
    assert engine.restore(PUMP_POWER_FAULT, f"{SITE}/pump-1/alarms", {"flags": ["power_loss"]})
    assert not engine.restore(FIRE_ALARM, f"{SITE}/facp-1/gone")
    # Still in fire: nothing new; restored flags unchanged: no update.
    assert facp(engine, **{"L1-SD001": ["fire"]}) == []
    assert keys(pump(engine, alarms=["power_loss"])) == [("Clear", COMM_LOSS, f"{SITE}/pump-1")]
    assert keys(facp(engine)) == [("Clear", FIRE_ALARM, SD1)]
    assert keys(pump(engine)) == [("Clear", PUMP_POWER_FAULT, f"{SITE}/pump-1/alarms")]
