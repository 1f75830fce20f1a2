"""Operators and their sessions: users with roles, argon2 passwords, server-side sessions, audit."""

from services.auth.limiter import LoginLimiter, TooManyAttempts
from services.auth.roles import Permission, Role, allows
from services.auth.store import (
    AuditEntry,
    AuthError,
    BadCredentials,
    DuplicateUser,
    Session,
    User,
    UserStore,
)

__all__ = [
    "AuditEntry",
    "AuthError",
    "BadCredentials",
    "DuplicateUser",
    "LoginLimiter",
    "Permission",
    "Role",
    "Session",
    "TooManyAttempts",
    "User",
    "UserStore",
    "allows",
]
