"""Limits on shelving through the real API: a fire alarm panel's supervision for at most the
site's limit, monitoring incidents never; shelved supervision apart in the handover."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from fireroom.clock import SimulatedClock
from fireroom.config import parse_site
from fireroom.domain import Severity
from services.api import create_app
from services.duty import DutyService, DutyStore
from services.incidents import IncidentStore
from tests.services.auth.accounts import login, make_users
from tests.services.helpers import site_data

SITE = "shelf-site"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, IncidentStore]]:
    clock = SimulatedClock()
    site = parse_site(site_data(SITE))  # facp-1 is a fire alarm panel, pump-1 is not
    with (
        IncidentStore(tmp_path / "incidents.sqlite3", clock) as store,
        make_users(tmp_path / "users.sqlite3", clock) as users,
    ):
        duty = DutyService(
            site=SITE, zone=ZoneInfo("Asia/Shanghai"), shifts=site.config.shifts, clock=clock,
            incidents=store, duty=DutyStore(tmp_path / "duty.sqlite3", created_at=clock.now()),
        )
        app = create_app(store, site_id=SITE, users=users, duty=duty, clock=clock, site=site)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as client:
            client.headers.update(await login(client, "alice"))
            yield client, store
        duty.duty.close()


def _raise(store: IncidentStore, rule: str, device: str | None) -> int:
    return store.raise_incident(
        site=SITE, rule=rule, subject=f"{SITE}/{device or rule}", severity=Severity.MAJOR,
        message=f"{rule} on {device}", device=device,
    ).incident.id


async def _shelve(client: httpx.AsyncClient, incident: int, minutes: int) -> httpx.Response:
    return await client.post(f"/api/v1/incidents/{incident}/shelve",
                             json={"reason": "panel maintenance", "minutes": minutes})


async def test_panel_supervision_is_shelved_for_at_most_the_limit(
    api: tuple[httpx.AsyncClient, IncidentStore],
) -> None:
    client, store = api
    panel_comm = _raise(store, "comm_loss", "facp-1")
    panel_fault = _raise(store, "device_fault", "facp-1")
    pump_comm = _raise(store, "comm_loss", "pump-1")
    refused = await _shelve(client, panel_comm, 9 * 60)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "fire alarm panel facp-1" in detail
    assert "at most 8 h" in detail
    assert "shelving.panel_supervision_max_seconds = 28800" in detail
    assert store.get(panel_comm).state.value == "active_unacked"
    assert (await _shelve(client, panel_fault, 9 * 60)).status_code == 409
    shelved = await _shelve(client, panel_comm, 8 * 60)
    assert shelved.status_code == 200, shelved.text
    assert shelved.json()["shelf"]["panel_supervision"] is True
    pump = await _shelve(client, pump_comm, 24 * 60)  # not a panel: the usual limit
    assert pump.status_code == 200
    assert pump.json()["shelf"]["panel_supervision"] is False
    board = {i["id"]: i for i in (await client.get("/api/v1/incidents?open=true")).json()["data"]}
    assert board[panel_comm]["shelf"]["panel_supervision"] is True
    assert board[pump_comm]["shelf"]["panel_supervision"] is False
    assert board[panel_fault]["shelf"] is None
    # The handover lists shelved panel supervision apart, with until when.
    report = (await client.get("/api/v1/handovers/current")).json()
    assert [i["id"] for i in report["shelved_supervision"]] == [panel_comm]
    assert report["shelved_supervision"][0]["until"]
    assert report["shelved_supervision"][0]["reason"] == "panel maintenance"
    signed = await client.post("/api/v1/handovers", json={})
    assert signed.status_code == 201, signed.text
    page = await client.get(f"/api/v1/handovers/{signed.json()['id']}/print")
    assert "Shelved panel supervision" in page.text
    assert f"{SITE}/facp-1" in page.text


@pytest.mark.parametrize("rule", ["monitoring_degraded", "nonconforming_configuration",
                                  "fire_alarm"])
async def test_never_shelved(api: tuple[httpx.AsyncClient, IncidentStore], rule: str) -> None:
    client, store = api
    incident = _raise(store, rule, None)
    refused = await _shelve(client, incident, 5)
    assert refused.status_code == 409
    assert "cannot be shelved" in refused.json()["detail"]
    assert store.get(incident).state.value == "active_unacked"
