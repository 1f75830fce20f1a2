"""Who is calling: the session from a Bearer token or the `fireroom_session` cookie.

`current_user` is a dependency on every router but health and login; `require(permission)`
narrows it. `AuditTrail` records each state-changing request with the user it ran as, whatever
its outcome, so refused attempts are on record too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.auth import Permission, User, UserStore, allows

__all__ = [
    "COOKIE",
    "AuditTrail",
    "CurrentUser",
    "UsersDep",
    "current_user",
    "require",
    "session_token",
]

COOKIE = "fireroom_session"
_AUDIT_KEY = "fireroom.audit"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_users(request: Request) -> UserStore:
    users: UserStore = request.app.state.users
    return users


UsersDep = Annotated[UserStore, Depends(get_users)]


def session_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


def note_user(request: Request, username: str) -> None:
    """Tell the audit trail who this request ran as."""
    holder: dict[str, Any] | None = request.scope.get(_AUDIT_KEY)
    if holder is not None:
        holder["user"] = username


def current_user(request: Request, users: UsersDep) -> User:
    token = session_token(request)
    user = users.session_user(token) if token else None
    if user is None:
        raise HTTPException(
            401, "log in first (POST /api/v1/auth/login)", headers={"WWW-Authenticate": "Bearer"}
        )
    note_user(request, user.username)
    return user


CurrentUser = Annotated[User, Depends(current_user)]

_REFUSALS = {
    Permission.OPERATE: "only operators, engineers, supervisors and admins may do this",
    Permission.RECORD_TESTS: "only engineers, supervisors and admins may record tests",
    Permission.AUDIT: "only supervisors and admins may read the audit trail",
    Permission.MANAGE_USERS: "only admins may manage users",
    Permission.READ: "reading needs a login",
}


def require(permission: Permission) -> Callable[[User], User]:
    """A dependency passing the user through if their role grants `permission`, else 403."""

    def check(user: CurrentUser) -> User:
        if not allows(user.role, permission):
            raise HTTPException(403, f"{_REFUSALS[permission]} (you are {user.role.value})")
        return user

    return check


class AuditTrail:
    """Append every non-read request to the user store's audit table after it is answered."""

    def __init__(self, app: ASGIApp, users: UserStore) -> None:
        self.app = app
        self.users = users

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READ_METHODS:
            await self.app(scope, receive, send)
            return
        holder: dict[str, Any] = {"status": 500}
        scope[_AUDIT_KEY] = holder

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            self.users.audit(
                holder.get("user"),
                scope["method"],
                scope["path"],
                holder["status"],
                client[0] if client else None,
            )
