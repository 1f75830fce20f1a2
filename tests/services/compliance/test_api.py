"""The compliance routes: obligations with their status, test records, the isolation register."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from fireroom.clock import SimulatedClock
from fireroom.domain import Severity
from services.api import create_app
from services.compliance import ComplianceRegister, RecordStore
from services.incidents import IncidentStore
from tests.services.auth.accounts import login, make_users
from tests.services.compliance.sites import SITE, make_site
from tests.services.compliance.test_status import ts

NOW = "2025-03-15 12:00"  # site time, UTC+8


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(ts(NOW))


@pytest.fixture
def stores(tmp_path: Path, clock: SimulatedClock) -> Iterator[tuple[IncidentStore, RecordStore]]:
    with (
        IncidentStore(tmp_path / "incidents.sqlite3", clock) as incidents,
        RecordStore(tmp_path / "compliance.sqlite3", clock) as records,
    ):
        yield incidents, records


@pytest.fixture
async def client(
    stores: tuple[IncidentStore, RecordStore], clock: SimulatedClock, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    incidents, records = stores
    site = make_site(
        presets=["cn-fire-control-room", "gb50974"],
        roles={"diesel_pump": ["pump-2"], "jockey_pump": ["jockey-1"]},
    )
    register = ComplianceRegister(site, records, clock)
    with make_users(tmp_path / "users.sqlite3", clock) as users:
        app = create_app(incidents, site_id=SITE, compliance=register, users=users)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api/api/v1"
        ) as client:
            # Recording tests needs an engineer.
            client.headers.update(await login(client, "engineer1"))
            yield client


def record(**given: object) -> dict[str, object]:
    body: dict[str, object] = {
        "obligation": "pressure-tank",
        "result": "pass",
        "performed_at": "2025-03-14T09:30:00",
        "performed_by": "Li Wei",
        "figures": {"pressure": 0.32},
        "note": "pre-charge checked",
    }
    return body | given


async def test_obligations_list_their_status(
    client: httpx.AsyncClient, clock: SimulatedClock, stores: tuple[IncidentStore, RecordStore]
) -> None:
    jockey_subject = f"{SITE}/jockey-1:jockey-pump-daily"
    stores[1].track(SITE, [("jockey-pump-daily", jockey_subject)], clock.now())
    body = (await client.get("/obligations")).json()
    by_id = {item["id"]: item for item in body["data"]}
    assert body["count"] == len(by_id) == 15
    pumps = by_id["pump-test-run"]
    assert pumps["origin"] == "preset gb50974"
    assert pumps["period"] == "monthly"
    assert pumps["grace_seconds"] == 7 * 86400
    assert [s["device"] for s in pumps["subjects"]] == ["pump-1", "pump-2"]
    first = pumps["subjects"][0]
    assert first["subject"] == f"{SITE}/pump-1:pump-test-run"
    # Not tracked yet: tracking starts mid-March, so March is owed together with April.
    assert first["due"] == "2025-05-01T00:00:00+08:00"
    assert (first["state"], first["missed"], first["last_evidence"]) == ("ok", False, None)
    rotation = by_id["detector-rotation"]["subjects"][0]
    assert rotation["coverage"] == {
        "tested": 0,
        "total": 6,
        "share": 0.0,
        "untested": ["L1-SD001", "L1-SD002", "L1-SD003", "L1-SD004", "L1-HD001", "L1-HD002"],
    }
    assert by_id["jockey-pump-daily"]["state"] == "ok"
    # Tracked from noon: the 15th runs on into the 16th; at 19:00 its check is due within 6 h.
    clock.advance(31 * 3600)
    client.headers.update(await login(client, "engineer1"))  # the session has expired
    jockey = (await client.get("/obligations/jockey-pump-daily")).json()
    assert jockey["state"] == "due_soon"
    assert jockey["due"] == "2025-03-17T00:00:00+08:00"
    assert (await client.get("/obligations/nothing-like-it")).status_code == 404


async def test_a_manual_record_becomes_the_last_evidence(client: httpx.AsyncClient) -> None:
    created = await client.post("/test-records", json=record())
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["subject"] == SITE
    assert made["source"] == "manual"
    assert made["performed_at"] == "2025-03-14T01:30:00.000+00:00"
    tank = (await client.get("/obligations/pressure-tank")).json()
    [subject] = tank["subjects"]
    assert subject["last_evidence"]["id"] == made["id"]
    assert subject["due"] == "2025-05-01T00:00:00+08:00"  # March is done
    assert tank["state"] == "ok"
    point = await client.post(
        "/test-records",
        json=record(obligation="detector-rotation", point="L1-SD003", figures={}),
    )
    assert point.status_code == 201, point.text
    assert point.json()["subject"] == f"{SITE}/facp-1/L1-SD003"
    rotation = (await client.get("/obligations/detector-rotation")).json()["subjects"][0]
    assert rotation["coverage"]["tested"] == 1


@pytest.mark.parametrize(
    ("given", "status", "detail"),
    [
        ({"obligation": "no-such-test"}, 404, "no obligation 'no-such-test'"),
        ({"figures": {}}, 422, "missing ['pressure']"),
        ({"device": "pump-1"}, 422, "applies to the site: leave out device"),
        (
            {"obligation": "pump-flow-pressure-test", "figures": {"flow": 1, "pressure": 1}},
            422,
            "applies to several devices: give one of pump-1, pump-2",
        ),
        (
            {"obligation": "pump-test-run", "device": "ai-1"},
            422,
            "does not apply to 'ai-1'; it does to pump-1, pump-2",
        ),
        (
            {"obligation": "detector-rotation", "point": "L1-MCP001"},
            422,
            "'L1-MCP001' is not one of the points detector-rotation covers on facp-1",
        ),
        ({"obligation": "detector-rotation"}, 422, "tested point by point: give the point"),
        ({"point": "L1-SD001"}, 422, "not tested point by point"),
        ({"performed_at": "2025-03-16T12:00:00+08:00"}, 422, "lies in the future"),
        ({"result": "void"}, 422, "give 'corrects'"),
        ({"corrects": 999}, 404, "no test record 999"),
    ],
)
async def test_bad_records_are_refused(
    client: httpx.AsyncClient, given: dict[str, object], status: int, detail: str
) -> None:
    response = await client.post("/test-records", json=record(**given))
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


@pytest.mark.parametrize(
    "given",
    [
        {"performed_by": "  "},
        {"result": "maybe"},
        {"figures": {"Flow": 1.0}},
        {"figures": {"flow": "lots"}},
        {"colour": "red"},
        {"performed_at": "yesterday"},
    ],
)
async def test_malformed_records_are_422(
    client: httpx.AsyncClient, given: dict[str, object]
) -> None:
    assert (await client.post("/test-records", json=record(**given))).status_code == 422


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
async def test_non_finite_figures_are_refused(client: httpx.AsyncClient, number: bytes) -> None:
    content = httpx.Request("POST", "/", json=record()).content.replace(b"0.32", number)
    response = await client.post(
        "/test-records", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "figures", "pressure"]


async def test_records_are_corrected_not_edited(client: httpx.AsyncClient) -> None:
    first = (await client.post("/test-records", json=record())).json()
    fix = record(performed_at="2025-03-13T09:30:00+08:00", corrects=first["id"])
    second = await client.post("/test-records", json=fix)
    assert second.status_code == 201
    again = await client.post("/test-records", json=fix)
    assert again.status_code == 409
    assert f"corrected by record {second.json()['id']}" in again.json()["detail"]
    tank = (await client.get("/obligations/pressure-tank")).json()["subjects"][0]
    assert tank["last_evidence"]["id"] == second.json()["id"]
    for method in ("PUT", "PATCH", "DELETE"):
        response = await client.request(method, f"/test-records/{first['id']}")
        assert response.status_code == 405


async def test_records_filter(client: httpx.AsyncClient) -> None:
    await client.post("/test-records", json=record(performed_at="2025-02-10T10:00:00"))
    await client.post("/test-records", json=record())
    for point in ("L1-SD001", "L1-SD002"):
        body = record(obligation="detector-rotation", point=point, figures={})
        assert (await client.post("/test-records", json=body)).status_code == 201

    async def ids(**params: str) -> list[str]:
        response = await client.get("/test-records", params=params)
        assert response.status_code == 200, response.text
        return [f"{r['obligation']}@{r['performed_at'][:10]}" for r in response.json()["data"]]

    assert await ids(obligation="pressure-tank") == [
        "pressure-tank@2025-03-14",
        "pressure-tank@2025-02-10",
    ]
    assert await ids(since="2025-03-01T00:00:00") == ["detector-rotation@2025-03-14"] * 2 + [
        "pressure-tank@2025-03-14"
    ]
    assert len(await ids(subject="facp-1")) == 2
    assert len(await ids(subject="facp-1/L1-SD002")) == 1
    assert len(await ids(subject=f"{SITE}/facp-1/L1-SD002")) == 1
    page = (await client.get("/test-records", params={"limit": 1})).json()
    assert (page["count"], len(page["data"])) == (4, 1)
    one = page["data"][0]
    assert (await client.get(f"/test-records/{one['id']}")).json() == one
    assert (await client.get("/test-records/12345")).status_code == 404
    assert (await client.get("/test-records", params={"subject": "a b"})).status_code == 422


async def test_isolation_register(
    client: httpx.AsyncClient, stores: tuple[IncidentStore, RecordStore], clock: SimulatedClock
) -> None:
    incidents, _ = stores
    for point in ("L1-SD001", "L1-SD002"):
        incidents.raise_incident(
            site=SITE,
            rule="isolation",
            subject=f"{SITE}/facp-1/{point}",
            severity=Severity.MINOR,
            message=f"Disabled: {point}",
            device="facp-1",
            point=point,
        )
        clock.advance(60)
    incidents.clear("isolation", f"{SITE}/facp-1/L1-SD002")  # re-enabled
    incidents.raise_incident(
        site="elsewhere",
        rule="isolation",
        subject="elsewhere/facp-1/X",
        severity=Severity.MINOR,
        message="Disabled: X",
    )
    body = (await client.get("/isolations")).json()
    assert body["count"] == 1
    [entry] = body["data"]
    assert entry["subject"] == f"{SITE}/facp-1/L1-SD001"
    assert (entry["point"], entry["state"]) == ("L1-SD001", "active_unacked")
    assert entry["since"] == "2025-03-15T04:00:00.000+00:00"


async def test_without_a_site_config_obligations_are_unavailable(
    stores: tuple[IncidentStore, RecordStore], clock: SimulatedClock, tmp_path: Path
) -> None:
    users = make_users(tmp_path / "users.sqlite3", clock)
    app = create_app(stores[0], users=users)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api/api/v1"
    ) as client:
        client.headers.update(await login(client, "engineer1"))
        assert (await client.get("/obligations")).status_code == 503
        assert (await client.post("/test-records", json=record())).status_code == 503
        assert (await client.get("/isolations")).json() == {"data": [], "count": 0}
