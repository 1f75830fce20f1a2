"""The compliance engine: detector tests, records from other processes, restarts, corrections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fireroom.domain import Severity
from services.compliance import (
    MISSED_TEST,
    RECORDS_DATABASE,
    ComplianceEngine,
    NewEvidence,
    Result,
    State,
    SubjectStatus,
    open_engine,
    open_register,
    site_obligations,
)
from services.rules.transitions import Clear, Raise
from tests.services.compliance.sites import SITE, make_site, telemetry
from tests.services.compliance.yearsim import SiteRun, detector_test, manual

ROTATION = {
    "custom": [
        {
            "id": "detectors",
            "title": "Detectors tested",
            "period": "yearly",
            "grace": "15d",
            "applies_to": {"roles": ["facp"], "point_kinds": ["smoke_detector"]},
            "evidence": "detector_test",
        },
        {"id": "drill", "title": "Evacuation drill", "period": "monthly", "grace": "3d"},
    ]
}


@pytest.fixture
def run(tmp_path: Path) -> Iterator[SiteRun]:
    run = SiteRun(make_site(**ROTATION), tmp_path, "2025-01-01 00:00")
    yield run
    run.close()


def status(run: SiteRun, obligation: str) -> SubjectStatus:
    return next(s for s in run.engine.statuses() if s.obligation.id == obligation)


def test_a_detector_is_credited_when_its_test_mode_ends(run: SiteRun) -> None:
    run.at("2025-02-03 10:00", detector_test("L1-SD001"))
    run.at("2025-02-03 11:00", detector_test("L1-SD002", fire=True))
    run.at("2025-02-03 12:00", detector_test("L1-HD001"))  # not a smoke detector here
    run.run_until("2025-02-03 13:00")
    made = run.records.list(obligation="detectors")
    assert [(r.point, run.local(r.performed_at), r.detail["alarm_in_test"]) for r in made] == [
        ("L1-SD002", "2025-02-03 11:01", True),  # credited at the fire, not again at the end
        ("L1-SD001", "2025-02-03 10:02", False),
    ]
    coverage = run.engine.statuses()[0].coverage
    assert coverage is not None
    assert (coverage.tested, coverage.total) == (2, 4)
    assert coverage.untested == ("L1-SD003", "L1-SD004")


def test_a_record_written_elsewhere_clears_the_missed_test_on_the_next_check(
    run: SiteRun,
) -> None:
    run.run_until("2025-02-04 00:00")  # January's drill missed at 4 Feb
    assert run.incidents.list(rule=MISSED_TEST, open_only=True)[0].subject == f"{SITE}:drill"
    run.register.add(  # as the API process would
        NewEvidence("drill", None, None, Result.PASS, run.clock.now(), "warden")
    )
    assert run.engine.tick() == []  # checked a moment ago: not yet
    run.clock.advance(run.engine.check_interval)
    assert run.engine.tick() == [Clear(MISSED_TEST, f"{SITE}:drill")]


def test_a_voided_record_stops_counting(run: SiteRun) -> None:
    run.at("2025-01-10 11:00", manual("drill"))
    run.run_until("2025-02-01 00:00")
    drill = run.records.list(obligation="drill")[0]
    run.register.add(
        NewEvidence(
            "drill",
            None,
            None,
            Result.VOID,
            run.clock.now(),
            "warden",
            corrects=drill.id,
            note="entered for the wrong building",
        )
    )
    run.run_until("2025-02-04 01:00")
    assert [(e[0], e[1]) for e in run.history()] == [("2025-02-04 00:00", "raised")]
    assert status(run, "drill").state is State.OVERDUE


def test_a_restarted_engine_states_everything_once(run: SiteRun, tmp_path: Path) -> None:
    run.run_until("2025-02-04 00:00")
    site = run.site
    # Evidence arrives while the rules service is down ...
    run.register.add(NewEvidence("drill", None, None, Result.PASS, run.clock.now(), "warden"))
    engine = ComplianceEngine(site, site_obligations(site), run.clock, run.records)
    first = engine.tick()
    # ... so the restarted engine clears the open incident, and says every subject is clear.
    assert Clear(MISSED_TEST, f"{SITE}:drill") in first
    assert all(isinstance(t, Clear) for t in first)
    assert engine.tick() == []
    run.apply(first)
    assert run.incidents.list(rule=MISSED_TEST, open_only=True)[0].state.value == (
        "cleared_unacked"
    )


def test_tracking_starts_once_and_survives_restarts(run: SiteRun) -> None:
    run.run_until("2025-03-01 00:00")
    later = ComplianceEngine(run.site, site_obligations(run.site), run.clock, run.records)
    [missed] = [t for t in later.tick() if isinstance(t, Raise)]
    # Due at the end of January, the month tracking began, not at the end of March.
    assert missed.detail["due"] == "2025-02-01T00:00:00+08:00"
    assert missed.severity is Severity.MINOR


def test_telemetry_of_other_sites_and_devices_is_ignored(run: SiteRun) -> None:
    elsewhere = telemetry("facp-1", 0.0, site="other", **{"L1-SD001": ["test"]})
    assert run.engine.evaluate(elsewhere) == []
    assert run.engine.evaluate(telemetry("nobody", 0.0)) == []
    assert sorted(run.engine.devices) == ["facp-1"]


def test_engine_and_register_share_the_data_directory(run: SiteRun, tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = open_engine(run.site, data, run.clock)
    register = open_register(run.site, data, run.clock)
    try:
        register.add(NewEvidence("drill", None, None, Result.PASS, run.clock.now(), "warden"))
        assert (data / RECORDS_DATABASE).exists()
        engine.tick()
        drill = next(s for s in engine.statuses() if s.obligation.id == "drill")
        assert drill.last_evidence is not None
        assert drill.last_evidence.performed_by == "warden"
    finally:
        engine.records.close()
        register.records.close()
