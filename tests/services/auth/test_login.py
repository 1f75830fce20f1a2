"""Login, sessions, rate limiting and the password store."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from fireroom import cli
from fireroom.clock import SimulatedClock
from services.auth import BadCredentials, Role, UserStore
from tests.services.auth.accounts import FAST, PASSWORD, login
from tests.services.auth.apps import running_api


async def test_login_me_logout_with_bearer_and_cookie(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        assert (await api.client.get("/api/v1/incidents")).status_code == 401
        response = await api.client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["user"] == {"username": "alice", "role": "operator", "display_name": "Alice"}
        cookie = response.headers["set-cookie"].lower()
        for attribute in ("fireroom_session=", "httponly", "samesite=strict", "path=/"):
            assert attribute in cookie
        # The client kept the cookie, as a browser (and EventSource) would.
        assert (await api.client.get("/api/v1/auth/me")).json()["username"] == "alice"
        api.client.cookies.clear()
        bearer = {"Authorization": f"Bearer {body['token']}"}
        assert (await api.client.get("/api/v1/incidents", headers=bearer)).status_code == 200
        assert (await api.client.post("/api/v1/auth/logout", headers=bearer)).status_code == 204
        assert (await api.client.get("/api/v1/auth/me", headers=bearer)).status_code == 401
        # Health stays open for probes.
        assert (await api.client.get("/api/v1/health")).status_code == 200


async def test_sessions_expire(tmp_path: Path) -> None:
    clock = SimulatedClock()
    async with running_api(tmp_path, clock) as api:
        headers = await login(api.client, "alice")
        api.client.cookies.clear()
        clock.advance(12 * 3600 - 1)
        assert (await api.client.get("/api/v1/auth/me", headers=headers)).status_code == 200
        clock.advance(1)
        assert (await api.client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_failed_logins_are_rate_limited(tmp_path: Path) -> None:
    clock = SimulatedClock()
    async with running_api(tmp_path, clock) as api:
        wrong = {"username": "alice", "password": "guess"}
        for _ in range(5):
            assert (await api.client.post("/api/v1/auth/login", json=wrong)).status_code == 401
        right = {"username": "alice", "password": PASSWORD}
        blocked = await api.client.post("/api/v1/auth/login", json=right)
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 300
        # The same address trying other names is limited too.
        other = {"username": "operator2", "password": PASSWORD}
        assert (await api.client.post("/api/v1/auth/login", json=other)).status_code == 429
        clock.advance(301)
        assert (await api.client.post("/api/v1/auth/login", json=right)).status_code == 200
        refused = [entry for entry in api.users.audit_log() if entry.status == 401]
        assert len(refused) == 5
        assert all(entry.username == "alice" for entry in refused)


def test_passwords_are_argon2id_and_checked(tmp_path: Path) -> None:
    with UserStore(tmp_path / "users.sqlite3", SimulatedClock(), hasher=FAST) as users:
        users.add("li.wei", "s3cret-enough", Role.OPERATOR, "Li Wei")
        stored = users.password_hash("li.wei")
        assert stored.startswith("$argon2id$")
        assert "s3cret-enough" not in stored
        with pytest.raises(BadCredentials):
            users.login("li.wei", "wrong")
        with pytest.raises(BadCredentials):
            users.login("nobody", "s3cret-enough")
        session = users.login("li.wei", "s3cret-enough")
        assert users.session_user(session.token) == users.users()[0]
    with sqlite3.connect(tmp_path / "users.sqlite3") as db:
        tokens = [row[0] for row in db.execute("SELECT token_hash FROM session")]
    assert session.token not in tokens  # only its hash is at rest


def test_audit_is_append_only(tmp_path: Path) -> None:
    with UserStore(tmp_path / "users.sqlite3", SimulatedClock(), hasher=FAST) as users:
        users.audit("alice", "POST", "/api/v1/x", 200, "127.0.0.1")
    with sqlite3.connect(tmp_path / "users.sqlite3") as db:
        for statement in ("UPDATE audit SET username = 'mallory'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)


def test_user_add_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["user", "add", "--data-dir", str(tmp_path), "--username", "zhang.san",
            "--role", "supervisor", "--name", "Zhang San", "--password-stdin"]
    monkeypatch.setattr("sys.stdin", io.StringIO("night-shift-42\n"))
    assert cli.main(argv) == 0
    assert "zhang.san (supervisor)" in capsys.readouterr().out
    with UserStore(tmp_path / "users.sqlite3") as users:
        assert users.login("zhang.san", "night-shift-42").user.display_name == "Zhang San"
    monkeypatch.setattr("sys.stdin", io.StringIO("another-password\n"))
    assert cli.main(argv) == 1
    assert "exists" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main([*argv[:5], "li", *argv[6:]]) == 1
