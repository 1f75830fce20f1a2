"""Users, sessions and the audit trail in one SQLite file (`users.sqlite3`).

Passwords are argon2id hashes; session tokens are random and only their SHA-256 is stored, so
a copy of the file lets nobody log in. The audit table is append-only: triggers refuse UPDATE
and DELETE, as on the incident event log.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fireroom.clock import Clock, SystemClock
from fireroom.errors import StoreError
from services.auth.roles import Role

__all__ = [
    "AuditEntry",
    "AuthError",
    "BadCredentials",
    "DuplicateUser",
    "Session",
    "User",
    "UserStore",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS user (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS session (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES user (username),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    username TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    client TEXT
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
"""
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,31}$"


class AuthError(StoreError):
    """Base of the user store's errors."""


class BadCredentials(AuthError):
    """Unknown user, wrong password, or a disabled account (deliberately not told apart)."""


class DuplicateUser(AuthError):
    """A user with that name exists."""


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # only ever returned at login; the store keeps its hash
    user: User
    expires_at: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    username: str | None
    method: str
    path: str
    status: int
    client: str | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users, sessions and the audit trail.

    Args:
        path: the database file, created if missing.
        clock: session times and audit times.
        session_seconds: how long a login lasts (a 12 h shift by default).
        hasher: argon2 parameters; tests pass cheap ones.
    """

    def __init__(
        self,
        path: Path | str,
        clock: Clock | None = None,
        *,
        session_seconds: float = 12 * 3600,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self.session_seconds = session_seconds
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        # Verified against when the user is unknown, so timing does not reveal who exists.
        self._dummy = self._hasher.hash(secrets.token_hex(16))
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open user store {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _db_locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"user store {self.path}: {exc}") from exc

    def add(self, username: str, password: str, role: Role, display_name: str = "") -> User:
        """Create a user; DuplicateUser if the name is taken."""
        if not password:
            raise AuthError("a user needs a non-empty password")
        user = User(username, display_name or username, Role(role))
        hashed = self._hasher.hash(password)
        try:
            with self._db_locked() as db:
                db.execute(
                    "INSERT INTO user (username, display_name, role, password_hash, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (user.username, user.display_name, user.role.value, hashed, self._clock.now()),
                )
        except sqlite3.IntegrityError as exc:
            raise DuplicateUser(f"user {username!r} exists") from exc
        return user

    def users(self) -> builtins.list[User]:
        with self._db_locked() as db:
            rows = db.execute(
                "SELECT username, display_name, role FROM user WHERE disabled = 0 ORDER BY username"
            ).fetchall()
        return [User(row[0], row[1], Role(row[2])) for row in rows]

    def password_hash(self, username: str) -> str:
        with self._db_locked() as db:
            row = db.execute(
                "SELECT password_hash FROM user WHERE username = ?", (username,)
            ).fetchone()
        if row is None:
            raise BadCredentials(f"no user {username!r}")
        return str(row[0])

    def login(self, username: str, password: str) -> Session:
        """Check the password and open a session; BadCredentials otherwise."""
        with self._db_locked() as db:
            row = db.execute(
                "SELECT username, display_name, role, password_hash FROM user"
                " WHERE username = ? AND disabled = 0",
                (username,),
            ).fetchone()
        try:
            self._hasher.verify(self._dummy if row is None else row[3], password)
        except (VerificationError, InvalidHashError) as exc:
            raise BadCredentials("wrong username or password") from exc
        if row is None:
            raise BadCredentials("wrong username or password")
        user = User(row[0], row[1], Role(row[2]))
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires = now + self.session_seconds
        with self._db_locked() as db:
            db.execute("DELETE FROM session WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO session (token_hash, username, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (_digest(token), user.username, now, expires),
            )
        return Session(token, user, expires)

    def session_user(self, token: str) -> User | None:
        """The user of a live session; None for an unknown, expired or logged-out token."""
        with self._db_locked() as db:
            row = db.execute(
                "SELECT u.username, u.display_name, u.role FROM session s"
                " JOIN user u ON u.username = s.username"
                " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
                (_digest(token), self._clock.now()),
            ).fetchone()
        return None if row is None else User(row[0], row[1], Role(row[2]))

    def logout(self, token: str) -> None:
        with self._db_locked() as db:
            db.execute("DELETE FROM session WHERE token_hash = ?", (_digest(token),))

    def audit(
        self, username: str | None, method: str, path: str, status: int, client: str | None
    ) -> None:
        with self._db_locked() as db:
            db.execute(
                "INSERT INTO audit (at, username, method, path, status, client)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (self._clock.now(), username, method, path, status, client),
            )

    def audit_log(
        self, *, since: float | None = None, limit: int = 100, offset: int = 0
    ) -> builtins.list[AuditEntry]:
        """Audit entries, newest first."""
        with self._db_locked() as db:
            rows = db.execute(
                "SELECT id, at, username, method, path, status, client FROM audit"
                " WHERE at >= ? ORDER BY id DESC LIMIT ? OFFSET ?",
                (since if since is not None else 0.0, limit, offset),
            ).fetchall()
        return [AuditEntry(*row) for row in rows]
