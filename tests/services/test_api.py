from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from fireroom.domain import Severity
from services.api import create_app
from services.incidents import IncidentStore
from tests.services.auth.accounts import login, make_users
from tests.services.helpers import FakeClock

SITE = "api-site"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IncidentStore]:
    with IncidentStore(tmp_path / "incidents.db", FakeClock()) as store:
        store.raise_incident(
            site=SITE,
            rule="fire_alarm",
            subject=f"{SITE}/facp-1/L1-SD001",
            severity=Severity.CRITICAL,
            message="Fire alarm: smoke 1",
            device="facp-1",
            point="L1-SD001",
            detail={"label": "smoke 1"},
        )
        store.raise_incident(
            site=SITE,
            rule="comm_loss",
            subject=f"{SITE}/pump-1",
            severity=Severity.MAJOR,
            message="No data from pump-1",
            device="pump-1",
        )
        store.raise_incident(
            site="elsewhere",
            rule="comm_loss",
            subject="elsewhere/pump-9",
            severity=Severity.MAJOR,
            message="No data",
            device="pump-9",
        )
        yield store


@pytest.fixture
async def client(store: IncidentStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    with make_users(tmp_path / "users.sqlite3", FakeClock()) as users:
        transport = httpx.ASGITransport(app=create_app(store, users=users))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            client.headers.update(await login(client, "alice"))
            yield client


async def test_list_and_filter(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/incidents")).json()
    assert body["count"] == 3
    first = body["data"][0]
    for field in (
        "id",
        "rule",
        "subject",
        "severity",
        "state",
        "raised_at",
        "cleared_at",
        "acked_at",
        "acked_by",
        "count",
        "message",
        "detail",
    ):
        assert field in first
    assert datetime.fromisoformat(first["raised_at"]).utcoffset() is not None
    fires = (await client.get("/api/v1/incidents", params={"rule": "fire_alarm"})).json()
    assert [i["subject"] for i in fires["data"]] == [f"{SITE}/facp-1/L1-SD001"]
    assert fires["data"][0]["detail"] == {"label": "smoke 1"}
    major = await client.get("/api/v1/incidents", params={"severity": "major", "limit": 1})
    assert major.json()["count"] == 2
    assert len(major.json()["data"]) == 1
    pump = await client.get("/api/v1/incidents", params={"device": "pump-1", "open": "true"})
    assert pump.json()["count"] == 1
    closed = await client.get("/api/v1/incidents", params={"state": "closed"})
    assert closed.json()["count"] == 0


async def test_site_scope(store: IncidentStore, tmp_path: Path) -> None:
    users = make_users(tmp_path / "users.sqlite3", FakeClock())
    transport = httpx.ASGITransport(app=create_app(store, site_id=SITE, users=users))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        client.headers.update(await login(client, "alice"))
        body = (await client.get("/api/v1/incidents")).json()
        assert {i["site"] for i in body["data"]} == {SITE}
        other = store.list(site="elsewhere")[0]
        assert (await client.get(f"/api/v1/incidents/{other.id}")).status_code == 404
        ack = await client.post(f"/api/v1/incidents/{other.id}/ack", json={})
        assert ack.status_code == 404
        assert (await client.get("/api/v1/health")).json()["open_incidents"] == 2


async def test_get_ack_and_conflicts(client: httpx.AsyncClient, store: IncidentStore) -> None:
    incident = store.list(rule="fire_alarm")[0]
    got = (await client.get(f"/api/v1/incidents/{incident.id}")).json()
    assert [e["kind"] for e in got["events"]] == ["raised"]
    acked = await client.post(
        f"/api/v1/incidents/{incident.id}/ack",
        json={"by": "alice", "comment": "crew sent to zone 1"},
    )
    assert acked.status_code == 200
    body = acked.json()
    assert (body["state"], body["acked_by"]) == ("active_acked", "alice")
    assert body["acked_at"] is not None
    assert [e["kind"] for e in body["events"]] == ["raised", "acknowledged"]
    assert body["events"][1]["comment"] == "crew sent to zone 1"
    again = await client.post(f"/api/v1/incidents/{incident.id}/ack", json={})
    assert again.status_code == 409
    assert "alice" in again.json()["detail"]
    store.clear("fire_alarm", incident.subject)
    closed = await client.post(f"/api/v1/incidents/{incident.id}/ack", json={})
    assert closed.status_code == 409
    assert "closed" in closed.json()["detail"]
    missing = await client.post("/api/v1/incidents/424242/ack", json={})
    assert missing.status_code == 404
    assert (await client.get("/api/v1/incidents/424242")).status_code == 404


async def test_cleared_incident_ack_closes_it(
    client: httpx.AsyncClient, store: IncidentStore
) -> None:
    incident = store.list(rule="comm_loss", site=SITE)[0]
    store.clear("comm_loss", incident.subject)
    response = await client.post(f"/api/v1/incidents/{incident.id}/ack", json={})
    assert response.json()["state"] == "closed"
    assert response.json()["cleared_at"] is not None


@pytest.mark.parametrize(
    "body",
    [
        {"by": "mallory"},  # someone else than the logged-in user
        {"by": ""},
        {"by": "   "},
        {"by": "x" * 65},
        {"by": "alice", "comment": "x" * 501},
        {"by": 5},
        {"by": "alice", "role": "admin"},
        [],
    ],
)
async def test_bad_ack_bodies_are_422(
    client: httpx.AsyncClient, store: IncidentStore, body: object
) -> None:
    incident = store.list()[0]
    response = await client.post(f"/api/v1/incidents/{incident.id}/ack", json=body)
    assert response.status_code == 422, response.text
    assert store.get(incident.id).acked_by is None


async def test_not_json_ack_body_is_422(client: httpx.AsyncClient, store: IncidentStore) -> None:
    incident = store.list()[0]
    response = await client.post(
        f"/api/v1/incidents/{incident.id}/ack",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_oversized_body_is_413(client: httpx.AsyncClient, store: IncidentStore) -> None:
    incident = store.list()[0]
    response = await client.post(
        f"/api/v1/incidents/{incident.id}/ack",
        json={"by": "alice", "comment": "x" * 1_000_000},
    )
    assert response.status_code == 413
    assert "exceeds" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"by": "alice", "comment": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    streamed = await client.post(
        f"/api/v1/incidents/{incident.id}/ack",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/incidents", {"limit": "1001"}),
        ("/api/v1/incidents", {"limit": "0"}),
        ("/api/v1/incidents", {"limit": str(10**30)}),
        ("/api/v1/incidents", {"offset": "-1"}),
        ("/api/v1/incidents", {"offset": str(10**30)}),
        ("/api/v1/incidents", {"rule": "fire_alarm' OR '1'='1"}),
        ("/api/v1/incidents", {"rule": "x; DROP TABLE incident; --"}),
        ("/api/v1/incidents", {"device": "../../etc/passwd"}),
        ("/api/v1/incidents", {"state": "active' --"}),
        ("/api/v1/incidents", {"severity": "urgent"}),
        ("/api/v1/incidents", {"open": "maybe"}),
        ("/api/v1/incidents", {"rule": "a" * 10_000}),
        ("/api/v1/incidents/abc", {}),
        ("/api/v1/incidents/-1", {}),
        ("/api/v1/incidents/99999999999999999999999999", {}),
    ],
)
async def test_malicious_queries_are_4xx(
    client: httpx.AsyncClient, store: IncidentStore, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
    assert store.count() == 3


async def test_health_and_docs(client: httpx.AsyncClient) -> None:
    health = await client.get("/api/v1/health")
    assert health.json() == {
        "status": "ok", "database": "ok", "open_incidents": 3, "monitoring": "unknown"}
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/incidents/{incident_id}/ack" in schema["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_health_reports_a_broken_store(store: IncidentStore, tmp_path: Path) -> None:
    users = make_users(tmp_path / "users.sqlite3", FakeClock())
    transport = httpx.ASGITransport(app=create_app(store, users=users))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        client.headers.update(await login(client, "alice"))
        store.close()
        health = await client.get("/api/v1/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        listing = await client.get("/api/v1/incidents")
        assert listing.status_code == 503


async def test_serve_api_runs_and_stops_on_cancel(store: IncidentStore, tmp_path: Path) -> None:
    import asyncio

    from services.api import serve_api
    from tests.servers import free_port

    port = free_port()
    users = make_users(tmp_path / "users.sqlite3", FakeClock())
    task = asyncio.create_task(
        serve_api(store, "127.0.0.1", port, log_level="warning", users=users)
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

        async def healthy() -> bool:
            try:
                return (await client.get("/api/v1/health")).status_code == 200
            except httpx.TransportError:
                return False

        deadline = asyncio.get_running_loop().time() + 10
        while not await healthy():
            assert asyncio.get_running_loop().time() < deadline, "API did not start"
            await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The port is free again: a second server can bind it.
    again = asyncio.create_task(
        serve_api(store, "127.0.0.1", port, log_level="warning", users=users)
    )
    await asyncio.sleep(0.2)
    assert not again.done()
    again.cancel()
    with pytest.raises(asyncio.CancelledError):
        await again
