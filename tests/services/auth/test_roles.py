"""Every state-changing route against every role: what the API allows and refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.auth import Role
from tests.services.auth.accounts import BY_ROLE, login
from tests.services.auth.apps import running_api

STAFF = {Role.OPERATOR, Role.ENGINEER, Role.SUPERVISOR, Role.ADMIN}
EVERYONE = set(Role)

# (method, path, body, roles allowed, status when allowed); {comm} and {fire} are incident ids.
ROUTES: list[tuple[str, str, object, set[Role], int]] = [
    ("POST", "/api/v1/incidents/{comm}/ack", {"comment": "seen"}, STAFF, 200),
    ("POST", "/api/v1/incidents/{comm}/shelve", {"reason": "pump service", "minutes": 30},
     STAFF, 200),
    ("POST", "/api/v1/incidents/{comm}/unshelve", None, STAFF, 409),  # not shelved
    # Without a site config the register answers 503, but only after the role check.
    ("POST", "/api/v1/test-records", {"obligation": "x"},
     {Role.ENGINEER, Role.SUPERVISOR, Role.ADMIN}, 503),
    ("POST", "/api/v1/duty/check-in", None, STAFF, 200),
    ("POST", "/api/v1/duty/check-out", None, STAFF, 200),
    ("POST", "/api/v1/duty/log", {"text": "patrol done, no hazards"}, STAFF, 201),
    ("POST", "/api/v1/handovers", {"notes": "quiet"}, STAFF, 201),
    ("POST", "/api/v1/handovers/999/accept", {"acknowledged_incident_ids": []}, STAFF, 404),
    ("POST", "/api/v1/users", {"username": "new1", "password": "long enough", "role": "operator"},
     {Role.ADMIN}, 201),
    ("POST", "/api/v1/auth/logout", None, EVERYONE, 204),
    ("GET", "/api/v1/audit", None, {Role.SUPERVISOR, Role.ADMIN}, 200),
]


@pytest.mark.parametrize("role", [*Role, None], ids=lambda role: role or "anonymous")
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "status"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
async def test_route_by_role(  # noqa: PLR0917 - one argument per table column
    tmp_path: Path,
    role: Role | None,
    method: str,
    path: str,
    body: object,
    allowed: set[Role],
    status: int,
) -> None:
    async with running_api(tmp_path) as api:
        headers = {} if role is None else await login(api.client, BY_ROLE[role])
        url = path.format(comm=api.comm_id, fire=api.fire_id)
        response = await api.client.request(method, url, json=body, headers=headers)
        if role is None:
            assert response.status_code == 401, response.text
        elif role in allowed:
            assert response.status_code == status, response.text
        else:
            assert response.status_code == 403, response.text
            assert role.value in response.json()["detail"]
        if method != "GET":
            entry = api.users.audit_log(limit=1)[0]
            expected_user = None if role is None else BY_ROLE[role]
            assert (entry.username, entry.path, entry.status) == (
                expected_user, url, response.status_code
            )


async def test_every_route_is_in_the_table(tmp_path: Path) -> None:
    """A new state-changing route must be added to ROUTES (and so get its role check)."""
    async with running_api(tmp_path) as api:
        schema = (await api.client.get("/openapi.json")).json()
    writes = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"post", "put", "patch", "delete"}
    }
    covered = {
        (method, path.replace("{comm}", "{incident_id}").replace("999", "{handover_id}"))
        for method, path, *_ in ROUTES
    }
    assert writes - covered <= {("POST", "/api/v1/auth/login")}
