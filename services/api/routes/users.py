"""/users: the accounts (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.api.auth import UsersDep, require
from services.api.routes.auth import UserPublic
from services.auth import DuplicateUser, Permission, Role
from services.auth.store import USERNAME_PATTERN

__all__ = ["router"]

router = APIRouter(
    prefix="/users", tags=["users"], dependencies=[Depends(require(Permission.MANAGE_USERS))]
)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(pattern=USERNAME_PATTERN)]
    password: Annotated[str, Field(min_length=8, max_length=1024)]
    role: Role
    display_name: Annotated[str, Field(max_length=100)] = ""


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


@router.get("")
def list_users(users: UsersDep) -> UsersPublic:
    data = [UserPublic.of(user) for user in users.users()]
    return UsersPublic(data=data, count=len(data))


@router.post("", status_code=201, responses={409: {"description": "the username is taken"}})
def create_user(body: UserCreate, users: UsersDep) -> UserPublic:
    try:
        user = users.add(body.username, body.password, body.role, body.display_name)
    except DuplicateUser as exc:
        raise HTTPException(409, str(exc)) from exc
    return UserPublic.of(user)
