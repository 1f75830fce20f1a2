"""Fail-safe engine behaviour: unreadable is not alive, lost scans make a device unknown."""

from __future__ import annotations

from typing import Any

import pytest

from fireroom.domain import Quality, Reading, Severity
from fireroom.points import Role
from fireroom.telemetry import Reassembly, SeqGaps, Telemetry
from services.rules import COMM_LOSS, FIRE_ALARM, Clear, Raise, RulesEngine
from tests.services.helpers import (
    NORMAL_FACP,
    NORMAL_PUMP,
    FakeClock,
    make_site,
    telemetry,
)

SITE = "fs"
PANEL = f"{SITE}/facp-1"
BAD = Quality.BAD


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> RulesEngine:
    return RulesEngine(make_site(SITE), clock)


def facp(engine: RulesEngine, **points: Any) -> list[Raise | Clear]:
    return engine.evaluate(telemetry(SITE, "facp-1", 0.0, **{**NORMAL_FACP, **points}))


def pump(engine: RulesEngine, **points: Any) -> list[Raise | Clear]:
    return engine.evaluate(telemetry(SITE, "pump-1", 0.0, **{**NORMAL_PUMP, **points}))


def alarm_points(device: str) -> int:
    roles = {Role.FACP_POINT, Role.FACP_SYSTEM, Role.PUMP_ALARMS, Role.PUMP_RUNNING}
    return sum(spec.role in roles for spec in make_site(SITE).points[device])


def comm_loss(transitions: list[Raise | Clear], subject: str) -> Raise:
    [raised] = [t for t in transitions if isinstance(t, Raise) and t.subject == subject]
    assert raised.rule == COMM_LOSS
    return raised


def test_a_panel_whose_alarm_points_cannot_be_read_is_comm_lost(
    engine: RulesEngine, clock: FakeClock
) -> None:
    # The panel answers, but one point's block is refused: a fire there would go unseen.
    for _ in range(3):
        assert facp(engine, **{"L1-SD002": (None, BAD)}) == []
        assert all(t.subject != PANEL for t in engine.tick())
        clock.advance(1.0)
    raised = comm_loss(engine.tick(), PANEL)
    assert raised.severity is Severity.CRITICAL
    assert raised.message == (
        f"Cannot read 1 of {alarm_points('facp-1')} alarm points of facp-1 for 3 s"
    )
    assert raised.detail == {"reason": "unreadable", "points": ["L1-SD002"], "limit_seconds": 3}
    # A fire on the points that can be read still raises at once.
    fire = facp(engine, **{"L1-SD001": ["fire"], "L1-SD002": (None, BAD)})
    assert [(t.rule, t.subject) for t in fire] == [(FIRE_ALARM, f"{PANEL}/L1-SD001")]
    assert [type(t) for t in facp(engine)] == [Clear, Clear]  # readable again: comm_loss too


def test_a_persistently_unreadable_panel_does_not_flap(
    engine: RulesEngine, clock: FakeClock
) -> None:
    seen: list[Raise | Clear] = []
    for scan in range(20):
        # Which block the busy panel refuses changes from scan to scan.
        bad = "L1-SD001" if scan % 2 else "system_status"
        seen += facp(engine, **{bad: (None, BAD)})
        seen += engine.tick()
        clock.advance(1.0)
    assert [(type(t), t.rule) for t in seen if t.subject == PANEL] == [(Raise, COMM_LOSS)]
    assert [type(t) for t in facp(engine)] == [Clear]


def test_a_partial_message_does_not_make_an_unreadable_point_readable(
    engine: RulesEngine, clock: FakeClock
) -> None:
    engine.evaluate(telemetry(SITE, "facp-1", 0.0, **{**NORMAL_FACP, "L1-SD001": (None, BAD)}))
    for seq in range(4):
        clock.advance(1.0)
        nothing_changed = Telemetry(SITE, "facp-1", float(seq), seq, [], full=False)
        assert engine.evaluate(nothing_changed) == []
    assert comm_loss(engine.tick(), PANEL).detail["points"] == ["L1-SD001"]
    read_again = Telemetry(
        SITE, "facp-1", 9.0, 9, [Reading("L1-SD001", ["normal"], Quality.GOOD)], full=False
    )
    assert [type(t) for t in engine.evaluate(read_again)] == [Clear]


def test_an_unreadable_pump_alarm_word_is_comm_loss_of_the_pump(
    engine: RulesEngine, clock: FakeClock
) -> None:
    facp(engine)
    for _ in range(4):
        pump(engine, alarms=(None, BAD))
        facp(engine)
        clock.advance(1.0)
    raised = comm_loss(engine.tick(), f"{SITE}/pump-1")
    assert raised.severity is Severity.MAJOR
    assert raised.detail["reason"] == "unreadable"
    assert raised.detail["points"] == ["alarms"]


def test_silence_is_critical_for_a_panel_and_major_for_others(
    engine: RulesEngine, clock: FakeClock
) -> None:
    clock.advance(3.0)
    lost = engine.tick()
    panel = comm_loss(lost, PANEL)
    assert panel.severity is Severity.CRITICAL
    assert panel.message == "No data from facp-1 for 3 s"
    assert panel.detail == {"limit_seconds": 3}
    assert comm_loss(lost, f"{SITE}/pump-1").severity is Severity.MAJOR


def test_silence_during_a_broker_outage_names_the_outage(
    engine: RulesEngine, clock: FakeClock
) -> None:
    facp(engine)
    outage_since = clock.monotonic()
    clock.advance(5.0)
    raised = comm_loss(engine.tick(outage_since), PANEL)
    assert raised.detail == {"limit_seconds": 3, "monitoring_outage_seconds": 5.0}
    assert "MQTT broker for 5 s" in raised.message
    assert [type(t) for t in facp(engine)] == [Clear]


def partial(seq: int, **values: Any) -> Telemetry:
    readings = [Reading(name, value, Quality.GOOD) for name, value in values.items()]
    return Telemetry(SITE, "dev", float(seq), seq, readings, full=False)


def full(seq: int, **values: Any) -> Telemetry:
    readings = [Reading(name, value, Quality.GOOD) for name, value in values.items()]
    return Telemetry(SITE, "dev", float(seq), seq, readings, full=True)


def test_a_gap_forgets_what_was_known_until_a_full_message() -> None:
    reassembly = Reassembly()
    reassembly.complete(full(1, a=1, b=2))
    assert {r.point: r.value for r in reassembly.complete(partial(2, a=5)).readings} == {
        "a": 5,
        "b": 2,
    }
    reassembly.gap(SITE, "dev")
    # b may have changed in the lost scans: only what the message carries is passed on.
    assert [r.point for r in reassembly.complete(partial(5, a=6)).readings] == ["a"]
    assert [r.point for r in reassembly.complete(partial(6)).readings] == []
    reassembly.complete(full(7, a=6, b=3))
    assert {r.point: r.value for r in reassembly.complete(partial(8)).readings} == {
        "a": 6,
        "b": 3,
    }


def test_seq_gaps_are_noticed_but_restarts_and_repeats_are_not() -> None:
    gaps = SeqGaps()
    assert gaps.check(full(41)) is None
    assert gaps.check(full(42)) is None
    assert gaps.check(full(42)) is None  # a QoS 1 redelivery
    assert gaps.check(full(45)) == (42, 45)
    assert gaps.check(full(1)) is None  # the gateway restarted: a new sequence
    assert gaps.check(full(2)) is None
    other = Telemetry(SITE, "other", 0.0, 9, [])
    assert gaps.check(other) is None  # sequences are per device
