"""Accounts for API tests: one user per role, and logging in as one of them."""

from __future__ import annotations

from pathlib import Path

import httpx
from argon2 import PasswordHasher

from fireroom.clock import Clock
from services.auth import Role, UserStore

PASSWORD = "correct horse battery"
ACCOUNTS = {
    "alice": Role.OPERATOR,
    "operator2": Role.OPERATOR,
    "engineer1": Role.ENGINEER,
    "supervisor1": Role.SUPERVISOR,
    "admin1": Role.ADMIN,
    "integrator1": Role.INTEGRATOR,
}
# Still argon2id, with parameters small enough for hundreds of logins per test run.
FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
BY_ROLE = {role: name for name, role in reversed(ACCOUNTS.items())}


def make_users(path: Path, clock: Clock) -> UserStore:
    users = UserStore(path, clock, hasher=FAST)
    for name, role in ACCOUNTS.items():
        users.add(name, PASSWORD, role, display_name=name.title())
    return users


async def login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Bearer headers for `username`'s new session."""
    url = client.base_url.join("/api/v1/auth/login")  # whatever path the client is based at
    response = await client.post(url, json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
