"""The SSE stream and the device list, over a real uvicorn server and a real SQLite store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from fireroom.domain import Severity
from services.incidents import IncidentStore
from tests.console.api import PASSWORD, running_api
from tests.integration.sites import example_site
from tests.servers import Broker


async def next_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    """The next `event: incident` block, with its id; comments and retry lines skipped."""
    event: dict[str, Any] = {}
    async with asyncio.timeout(10):
        async for line in lines:
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("event: "):
                event["event"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif not line and "data" in event:
                return event
    raise AssertionError("stream ended")


@asynccontextmanager
async def logged_in(base: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding operator1's session cookie."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post(
            "/api/v1/auth/login", json={"username": "operator1", "password": PASSWORD}
        )
        response.raise_for_status()
        yield client


def fire(store: IncidentStore, point: str) -> int:
    change = store.raise_incident(
        site="tower-a", rule="fire_alarm", subject=f"tower-a/facp-1/{point}",
        severity=Severity.CRITICAL, message=f"fire at {point}", device="facp-1", point=point,
    )
    return change.incident.id


async def test_stream_sends_changes_written_after_connect(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    fire(store, "L1-SD001")  # before connect: the board loads it, the stream must not
    # A second connection, as the rules process would have, writes while the stream is open.
    writer = IncidentStore(tmp_path / "incidents.sqlite3")
    async with (
        running_api(store, tmp_path) as base,
        logged_in(base) as client,
        client.stream("GET", "/api/v1/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        second = fire(writer, "L2-SD002")
        event = await next_event(lines)
        assert event["event"] == "incident"
        assert event["data"]["event"] == "raised"
        assert event["data"]["incident"]["id"] == second
        assert event["data"]["incident"]["state"] == "active_unacked"
        writer.acknowledge(second, "operator1")
        acked = await next_event(lines)
        assert acked["data"]["event"] == "acknowledged"
        assert acked["data"]["incident"]["state"] == "active_acked"
        assert acked["id"] > event["id"]
    writer.close()
    store.close()


async def test_last_event_id_replays_what_was_missed(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    first = fire(store, "L1-SD001")
    missed = fire(store, "L1-SD002")
    first_event = store.events(first)[0].id
    headers = {"Last-Event-ID": str(first_event)}
    async with (
        running_api(store, tmp_path) as base,
        logged_in(base) as client,
        client.stream("GET", "/api/v1/events", headers=headers) as response,
    ):
        event = await next_event(response.aiter_lines())
    assert event["data"]["incident"]["id"] == missed
    store.close()


@pytest.mark.integration
async def test_devices_are_lost_while_comm_loss_is_open(
    tmp_path: Path, mosquitto: Broker
) -> None:
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    store.raise_incident(
        site="tower-a", rule="comm_loss", subject="tower-a/pump-1", severity=Severity.MAJOR,
        message="no answer from pump-1", device="pump-1",
    )
    site, _ = example_site(mosquitto, tmp_path / "site")
    async with (
        running_api(store, tmp_path, site) as base,
        logged_in(base) as client,
        httpx.AsyncClient(base_url=base) as stranger,
    ):
        anonymous = await stranger.get("/api/v1/events")
        response = await client.get("/api/v1/devices")
        page = await client.get("/")
    assert anonymous.status_code == 401  # the stream needs a session like every other route
    assert response.status_code == 200
    status = {device["id"]: device["status"] for device in response.json()["data"]}
    assert status["pump-1"] == "lost"
    assert status["facp-1"] == "online"
    # The console is served by the same process, from files in the package.
    assert page.status_code == 307
    assert page.headers["location"] == "/console/"
    store.close()
