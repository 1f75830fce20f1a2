"""The duty log's 2-hourly entries and gaps, and the handover from draft to acceptance."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from fireroom.clock import SimulatedClock
from fireroom.domain import Severity
from services.duty import DUTY_LOG_GAP, HANDOVER_OVERDUE
from tests.services.auth.accounts import login
from tests.services.auth.apps import SITE, running_api

HOUR = 3600.0


async def test_status_entries_every_two_hours_and_a_gap(tmp_path: Path) -> None:
    clock = SimulatedClock()
    async with running_api(tmp_path, clock) as api:
        for _ in range(8):  # four hours, ticking every half hour
            api.duty.tick()
            clock.advance(HOUR / 2)
        statuses = [entry for entry in api.duty.duty.entries() if entry.kind == "status"]
        assert [entry.at - statuses[0].at for entry in statuses] == [0, 2 * HOUR]
        assert statuses[0].data["open_incidents"] == 2
        assert "2 open incidents" in statuses[0].text
        assert api.store.list(rule=DUTY_LOG_GAP) == []
        clock.advance(3 * HOUR)  # the service was down
        api.duty.tick()
        gap = api.store.list(rule=DUTY_LOG_GAP)
        assert [(i.severity, i.state) for i in gap] == [(Severity.MINOR, "cleared_unacked")]
        api.client.headers.update(await login(api.client, "alice"))
        note = await api.client.post("/api/v1/duty/log", json={"text": "patrol: exit 3 blocked"})
        assert (note.status_code, note.json()["author"]) == (201, "alice")
        log = (await api.client.get(
            "/api/v1/duty/log", params={"since": "2025-01-01T04:00:00"}
        )).json()
        assert [entry["kind"] for entry in log["data"]] == ["status", "note"]


def _raise(api_store: object, rule: str, subject: str, severity: Severity) -> int:
    from services.incidents import IncidentStore

    assert isinstance(api_store, IncidentStore)
    return api_store.raise_incident(
        site=SITE, rule=rule, subject=subject, severity=severity, message=f"{rule} {subject}"
    ).incident.id


async def test_handover_draft_sign_and_accept(tmp_path: Path) -> None:
    clock = SimulatedClock()
    async with running_api(tmp_path, clock) as api:
        manual = _raise(api.store, "system_in_manual", f"{SITE}/pump-2", Severity.MAJOR)
        isolated = _raise(api.store, "isolation", f"{SITE}/facp-1/L2", Severity.MINOR)
        gone = _raise(api.store, "low_pressure", f"{SITE}/riser", Severity.MAJOR)
        clock.advance(HOUR)
        api.store.clear("low_pressure", f"{SITE}/riser")
        clock.advance(6.5 * HOUR)  # 07:30, the night shift ends at 08:00
        alice = await login(api.client, "alice")
        await api.client.post("/api/v1/duty/check-in", headers=alice)
        draft = (await api.client.get("/api/v1/handovers/current", headers=alice)).json()
        assert draft["shift_start"] == "2025-01-01T00:00:00+08:00"
        assert draft["shift_end"] == "2025-01-01T08:00:00+08:00"
        assert draft["on_duty"] == ["alice"]
        assert {i["id"] for i in draft["open_incidents"]} == {
            api.fire_id, api.comm_id, manual, isolated, gone
        }
        assert {i["id"] for i in draft["raised_during_shift"]} >= {api.fire_id, gone}
        assert [i["id"] for i in draft["cleared_during_shift"]] == [gone]
        assert [i["id"] for i in draft["isolations"]] == [isolated]
        assert [i["id"] for i in draft["systems_in_manual"]] == [manual]
        assert [i["id"] for i in draft["devices_offline"]] == [api.comm_id]

        signed = await api.client.post("/api/v1/handovers", json={"notes": "L2 isolated"},
                                       headers=alice)
        assert signed.status_code == 201, signed.text
        handover = signed.json()
        again = await api.client.post("/api/v1/handovers", json={}, headers=alice)
        assert again.status_code == 409
        accept = f"/api/v1/handovers/{handover['id']}/accept"
        assert (await api.client.post(accept, json={}, headers=alice)).status_code == 409

        bob = await login(api.client, "operator2")
        missing = await api.client.post(
            accept, json={"acknowledged_incident_ids": [api.fire_id]}, headers=bob
        )
        assert missing.status_code == 422
        must = sorted([api.comm_id, manual, gone])
        assert missing.json()["detail"]["missing_incident_ids"] == must
        accepted = await api.client.post(
            accept,
            json={"notes": "taken over", "acknowledged_incident_ids": [api.fire_id, *must]},
            headers=bob,
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["accepted_by"] == "operator2"
        assert api.store.get(api.fire_id).acked_by == "operator2"
        assert api.store.get(gone).state == "closed"
        assert api.store.get(isolated).acked_by is None  # minor: not part of the takeover
        assert (await api.client.post(accept, json={}, headers=bob)).status_code == 409
        listed = (await api.client.get("/api/v1/handovers", headers=bob)).json()
        assert [h["id"] for h in listed["data"]] == [handover["id"]]


async def test_handover_overdue_raised_and_cleared(tmp_path: Path) -> None:
    clock = SimulatedClock()
    async with running_api(tmp_path, clock) as api:
        clock.advance(8 * HOUR + 29 * 60)
        api.duty.tick()
        assert api.store.list(rule=HANDOVER_OVERDUE) == []
        clock.advance(2 * 60)
        api.duty.tick()
        [overdue] = api.store.list(rule=HANDOVER_OVERDUE)
        assert (overdue.severity, overdue.state) == (Severity.MAJOR, "active_unacked")
        assert overdue.subject == f"{SITE}/handover/2025-01-01T08:00:00+08:00"
        alice, bob = await login(api.client, "alice"), await login(api.client, "operator2")
        handover = (await api.client.post("/api/v1/handovers", json={}, headers=alice)).json()
        assert handover["shift_end"] == "2025-01-01T08:00:00+08:00"  # the overdue one
        ids = [api.fire_id, api.comm_id, overdue.id]
        response = await api.client.post(
            f"/api/v1/handovers/{handover['id']}/accept",
            json={"acknowledged_incident_ids": ids}, headers=bob,
        )
        assert response.status_code == 200, response.text
        assert api.store.get(overdue.id).state == "closed"
        api.duty.tick()
        assert api.store.list(rule=HANDOVER_OVERDUE, open_only=True) == []


async def test_handovers_are_immutable_printable_and_exportable(tmp_path: Path) -> None:
    clock = SimulatedClock()
    async with running_api(tmp_path, clock) as api:
        api.store.raise_incident(site=SITE, rule="device_fault", subject=f"{SITE}/x",
                                 severity=Severity.MINOR, message="<b>loop</b> & fault")
        alice, bob = await login(api.client, "alice"), await login(api.client, "operator2")
        api.duty.note("alice", "fault on loop 2 reported to the maintainer")
        clock.advance(7 * HOUR)
        handover = (await api.client.post("/api/v1/handovers", json={"notes": "ok"},
                                          headers=alice)).json()
        await api.client.post(
            f"/api/v1/handovers/{handover['id']}/accept",
            json={"acknowledged_incident_ids": [api.fire_id, api.comm_id]}, headers=bob,
        )
        page = await api.client.get(f"/api/v1/handovers/{handover['id']}/print", headers=bob)
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "&lt;b&gt;loop&lt;/b&gt; &amp; fault" in html
        for external in ("<script", "<link", "http://", "https://", "src="):
            assert external not in html
        assert "alice" in html
        assert "operator2" in html

        exported = await api.client.get(
            f"/api/v1/handovers/{handover['id']}/export", params={"format": "csv"}, headers=bob
        )
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert (rows[0]["signed_by"], rows[0]["accepted_by"]) == ("alice", "operator2")
        assert "device_fault" not in rows[0]["open_incidents"]  # subjects, not rules
        assert f"{SITE}/x" in rows[0]["open_incidents"]
        every = (await api.client.get("/api/v1/handovers/export", headers=bob)).json()
        assert [h["id"] for h in every["data"]] == [handover["id"]]

    with sqlite3.connect(tmp_path / "duty.sqlite3") as db:
        for statement in (
            "UPDATE handover SET notes = 'changed'",
            "DELETE FROM handover",
            "UPDATE handover_acceptance SET accepted_by = 'mallory'",
            "DELETE FROM duty_log",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
