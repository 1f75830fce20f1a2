"""Shelving through the API: who and why, expiry, fire alarms refused."""

from __future__ import annotations

from pathlib import Path

from fireroom.clock import SimulatedClock
from tests.services.auth.accounts import login
from tests.services.auth.apps import running_api


async def test_shelve_expires_back_to_its_state(tmp_path: Path) -> None:
    clock = SimulatedClock()
    async with running_api(tmp_path, clock) as api:
        api.client.headers.update(await login(api.client, "alice"))
        url = f"/api/v1/incidents/{api.comm_id}"
        shelved = await api.client.post(
            f"{url}/shelve", json={"reason": "pump-1 under service", "minutes": 30}
        )
        assert shelved.status_code == 200, shelved.text
        event = shelved.json()["events"][-1]
        assert (shelved.json()["state"], event["kind"]) == ("shelved", "shelved")
        assert (event["actor"], event["comment"]) == ("alice", "pump-1 under service")
        # Shelved alarms are still open: a raise does not open a second one.
        api.store.raise_incident(site="tower-a", rule="comm_loss", subject="tower-a/pump-1",
                                 severity=api.store.get(api.comm_id).severity, message="again")
        clock.advance(29 * 60)
        api.duty.tick()
        assert api.store.get(api.comm_id).state == "shelved"
        clock.advance(60)
        api.duty.tick()
        assert api.store.get(api.comm_id).state == "active_unacked"
        last = api.store.events(api.comm_id)[-1]
        assert (last.kind, last.actor, last.comment) == ("unshelved", None, "shelving expired")


async def test_cleared_while_shelved_comes_back_cleared(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        api.client.headers.update(await login(api.client, "engineer1"))
        url = f"/api/v1/incidents/{api.comm_id}"
        await api.client.post(f"{url}/shelve", json={"reason": "known", "minutes": 5})
        api.store.clear("comm_loss", "tower-a/pump-1")
        back = await api.client.post(f"{url}/unshelve")
        assert back.status_code == 200
        assert back.json()["state"] == "cleared_unacked"
        assert (await api.client.post(f"{url}/unshelve")).status_code == 409


async def test_fire_alarms_cannot_be_shelved(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        api.client.headers.update(await login(api.client, "supervisor1"))
        refused = await api.client.post(
            f"/api/v1/incidents/{api.fire_id}/shelve", json={"reason": "noisy", "minutes": 10}
        )
        assert refused.status_code == 409
        assert "fire alarm" in refused.json()["detail"]
        assert api.store.get(api.fire_id).state == "active_unacked"
        for body in ({"reason": "", "minutes": 5}, {"reason": "x", "minutes": 0},
                     {"reason": "x", "minutes": 1441}, {"reason": "x" * 501, "minutes": 5}):
            response = await api.client.post(
                f"/api/v1/incidents/{api.comm_id}/shelve", json=body
            )
            assert response.status_code == 422
