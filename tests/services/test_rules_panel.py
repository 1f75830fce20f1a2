"""Panel rules beyond fire and faults: the isolation register and the panel in manual."""

from __future__ import annotations

import pytest

from fireroom.domain import Quality, Severity
from services.rules import FIRE_ALARM, ISOLATION, SYSTEM_IN_MANUAL, Isolation
from tests.services.rules_site import LOST, SITE, Driver, cleared, keys, make_site, raised

SD1 = f"{SITE}/facp-1/L1-SD001"
SYSTEM = f"{SITE}/facp-1/system_status"
DAY = 86400.0


@pytest.fixture
def run() -> Driver:
    return Driver()


def test_a_disabled_point_raises_a_minor_isolation(run: Driver) -> None:
    incident = raised(run.scan("facp-1", 100.0, **{"L1-SD001": ["disabled"]}))
    assert (incident.rule, incident.subject) == (ISOLATION, SD1)
    assert incident.severity is Severity.MINOR
    assert incident.detail == {"since": 100.0}
    assert (incident.device, incident.point) == ("facp-1", "L1-SD001")
    assert run.scan("facp-1", 200.0, **{"L1-SD001": ["disabled"]}) == []
    assert keys(run.scan("facp-1", 300.0)) == [("Clear", ISOLATION, SD1)]


def test_an_isolation_older_than_a_day_escalates_to_major(run: Driver) -> None:
    run.scan("facp-1", 100.0, **{"L1-SD001": ["disabled"]})
    assert run.scan("facp-1", 100.0 + DAY - 1, **{"L1-SD001": ["disabled"]}) == []
    escalated = raised(run.scan("facp-1", 100.0 + DAY, **{"L1-SD001": ["disabled"]}))
    # The same incident (rule, subject), at a higher severity.
    assert (escalated.rule, escalated.subject) == (ISOLATION, SD1)
    assert escalated.severity is Severity.MAJOR
    assert escalated.detail == {"since": 100.0}
    assert run.scan("facp-1", 100.0 + 2 * DAY, **{"L1-SD001": ["disabled"]}) == []
    assert keys(run.scan("facp-1", 100.0 + 2 * DAY + 1)) == [("Clear", ISOLATION, SD1)]


def test_the_escalation_limit_is_configurable() -> None:
    run = Driver(make_site(isolation={"escalate_after_seconds": 3600}))
    run.scan("facp-1", 0.0, **{"L1-SD001": ["disabled"]})
    assert raised(run.scan("facp-1", 3600.0, **{"L1-SD001": ["disabled"]})).severity is (
        Severity.MAJOR
    )


def test_the_isolation_register_lists_disabled_points_oldest_first(run: Driver) -> None:
    assert run.engine.isolations() == []
    run.scan("facp-1", 50.0, **{"L1-SD002": ["disabled"]})
    run.scan("facp-1", 60.0, **{"L1-SD001": ["disabled"], "L1-SD002": ["disabled"]})
    register = run.engine.isolations()
    assert register == [
        Isolation(f"{SITE}/facp-1/L1-SD002", "facp-1", "L1-SD002", "smoke 2, zone 1", 50.0, False),
        Isolation(SD1, "facp-1", "L1-SD001", "smoke 1, zone 1", 60.0, False),
    ]
    run.scan("facp-1", 70.0, **{"L1-SD001": ["disabled"]})
    assert [entry.point for entry in run.engine.isolations()] == ["L1-SD001"]


def test_the_register_is_kept_even_with_the_rule_off() -> None:
    run = Driver(make_site(isolation={"enabled": False}))
    assert run.scan("facp-1", 5.0, **{"L1-SD001": ["disabled"]}) == []
    assert [entry.since for entry in run.engine.isolations()] == [5.0]


def test_a_disabled_point_in_fire_is_both(run: Driver) -> None:
    both = run.scan("facp-1", 0.0, **{"L1-SD001": ["disabled", "fire"]})
    assert sorted(t.rule for t in both) == [FIRE_ALARM, ISOLATION]


def test_system_disabled_alone_needs_two_scans_and_no_point_explaining_it(run: Driver) -> None:
    # A point explains the summary bit: only the point is isolated.
    run.scan("facp-1", 0.0, system_status=["disabled"], **{"L1-SD001": ["disabled"]})
    assert run.scan("facp-1", 1.0, system_status=["disabled"], **{"L1-SD001": ["disabled"]}) == []
    cleared(run.scan("facp-1", 2.0))
    # A disablement no known point explains (a zone, an output): the system word's own.
    assert run.scan("facp-1", 3.0, system_status=["disabled"]) == []
    incident = raised(run.scan("facp-1", 4.0, system_status=["disabled"]))
    assert (incident.rule, incident.subject) == (ISOLATION, SYSTEM)
    assert incident.detail == {"since": 4.0}
    assert [entry.subject for entry in run.engine.isolations()] == [SYSTEM]
    assert keys(run.scan("facp-1", 5.0)) == [("Clear", ISOLATION, SYSTEM)]


@pytest.mark.parametrize("quality", [Quality.COMM_LOST, Quality.BAD, Quality.STALE])
def test_untrusted_readings_neither_raise_nor_clear_isolation(
    run: Driver, quality: Quality
) -> None:
    assert run.scan("facp-1", 0.0, **{"L1-SD001": (["disabled"], quality)}) == []
    run.scan("facp-1", 1.0, **{"L1-SD001": ["disabled"]})
    assert run.scan("facp-1", 2.0, **{"L1-SD001": (["normal"], quality)}) == []
    assert run.scan("facp-1", DAY + 2, **{"L1-SD001": (None, quality)}) == []
    assert len(run.engine.isolations()) == 1


def test_a_restored_isolation_escalates_from_its_original_time(run: Driver) -> None:
    assert run.engine.restore(ISOLATION, SD1, {"since": 1000.0})
    assert run.scan("facp-1", 2000.0, **{"L1-SD001": ["disabled"]}) == []
    assert run.engine.isolations()[0].since == 1000.0
    escalated = raised(run.scan("facp-1", 1000.0 + DAY, **{"L1-SD001": ["disabled"]}))
    assert escalated.severity is Severity.MAJOR
    cleared(run.scan("facp-1", 2.0 * DAY))


def test_a_restored_system_isolation_clears_when_the_bit_drops(run: Driver) -> None:
    assert run.engine.restore(ISOLATION, SYSTEM, {"since": 10.0})
    assert run.scan("facp-1", 20.0, system_status=["disabled"]) == []
    assert keys(run.scan("facp-1", 21.0)) == [("Clear", ISOLATION, SYSTEM)]


# system_in_manual on the panel (linkage in manual)


def test_panel_in_manual_longer_than_the_limit(run: Driver) -> None:
    assert run.scan("facp-1", 0.0, system_status=["normal", "manual"]) == []
    assert run.scan("facp-1", 599.0, system_status=["normal", "manual"]) == []
    incident = raised(run.scan("facp-1", 600.0, system_status=["normal", "manual"]))
    assert (incident.rule, incident.subject) == (SYSTEM_IN_MANUAL, SYSTEM)
    assert incident.severity is Severity.MAJOR
    assert run.scan("facp-1", 700.0, system_status=LOST) == []
    assert keys(run.scan("facp-1", 701.0)) == [("Clear", SYSTEM_IN_MANUAL, SYSTEM)]


def test_a_short_spell_of_panel_manual_raises_nothing(run: Driver) -> None:
    run.scan("facp-1", 0.0, system_status=["manual"])
    assert run.scan("facp-1", 500.0) == []
    assert run.scan("facp-1", 501.0, system_status=["manual"]) == []
    assert run.scan("facp-1", 1100.0, system_status=["manual"]) == []


def test_a_restored_panel_manual_clears_back_in_auto(run: Driver) -> None:
    assert run.engine.restore(SYSTEM_IN_MANUAL, SYSTEM, {"since": 0.0})
    assert run.scan("facp-1", 10.0, system_status=["manual"]) == []
    cleared(run.scan("facp-1", 11.0))
