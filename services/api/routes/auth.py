"""/auth: log in, log out, who am I; /audit: the trail of state-changing requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api.auth import COOKIE, CurrentUser, UsersDep, note_user, require, session_token
from services.auth import BadCredentials, LoginLimiter, Permission, TooManyAttempts, User
from services.incidents import iso_time

__all__ = ["router"]

router = APIRouter(tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class UserPublic(BaseModel):
    username: str
    role: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(username=user.username, role=user.role.value, display_name=user.display_name)


class LoginPublic(BaseModel):
    token: str
    user: UserPublic
    expires_at: str


class AuditPublic(BaseModel):
    id: int
    at: str
    username: str | None
    method: str
    path: str
    status: int
    client: str | None


class AuditListPublic(BaseModel):
    data: list[AuditPublic]
    count: int


def get_limiter(request: Request) -> LoginLimiter:
    limiter: LoginLimiter = request.app.state.login_limiter
    return limiter


@router.post(
    "/auth/login",
    responses={401: {"description": "wrong username or password"},
               429: {"description": "too many failed logins; see Retry-After"}},
)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    users: UsersDep,
    limiter: Annotated[LoginLimiter, Depends(get_limiter)],
) -> LoginPublic:
    """Open a session: the token for API clients, and an HttpOnly cookie for the console."""
    client = request.client.host if request.client else "unknown"
    keys = (f"user:{body.username}", f"ip:{client}")
    note_user(request, body.username)
    try:
        limiter.check(*keys)
    except TooManyAttempts as exc:
        return JSONResponse(  # type: ignore[return-value]
            {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}
        )
    try:
        session = users.login(body.username, body.password)
    except BadCredentials:
        limiter.failed(*keys)
        return JSONResponse(  # type: ignore[return-value]
            {"detail": "wrong username or password"}, status_code=401
        )
    limiter.succeeded(keys[0])
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(users.session_seconds),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return LoginPublic(
        token=session.token,
        user=UserPublic.of(session.user),
        expires_at=iso_time(session.expires_at) or "",
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, user: CurrentUser, users: UsersDep) -> None:
    """End this session (the token stops working at once)."""
    token = session_token(request)
    if token:
        users.logout(token)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


@router.get("/auth/me")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)


@router.get("/audit", dependencies=[Depends(require(Permission.AUDIT))])
def audit(
    users: UsersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditListPublic:
    """State-changing requests with who made them, newest first (supervisor, admin)."""
    entries = users.audit_log(limit=limit, offset=offset)
    data = [
        AuditPublic(
            id=entry.id,
            at=iso_time(entry.at) or "",
            username=entry.username,
            method=entry.method,
            path=entry.path,
            status=entry.status,
            client=entry.client,
        )
        for entry in entries
    ]
    return AuditListPublic(data=data, count=len(data))
