"""Roles and what each may do; the API checks a permission, never a role name."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Permission", "Role", "allows"]


class Role(StrEnum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    INTEGRATOR = "integrator"  # read-only: building management systems, reporting tools


class Permission(StrEnum):
    READ = "read"
    OPERATE = "operate"  # acknowledge, shelve, duty log, check-in, handover
    RECORD_TESTS = "record_tests"
    AUDIT = "audit"
    MANAGE_USERS = "manage_users"


_STAFF = frozenset({Role.OPERATOR, Role.ENGINEER, Role.SUPERVISOR, Role.ADMIN})
_GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.READ: frozenset(Role),
    Permission.OPERATE: _STAFF,
    Permission.RECORD_TESTS: frozenset({Role.ENGINEER, Role.SUPERVISOR, Role.ADMIN}),
    Permission.AUDIT: frozenset({Role.SUPERVISOR, Role.ADMIN}),
    Permission.MANAGE_USERS: frozenset({Role.ADMIN}),
}


def allows(role: Role, permission: Permission) -> bool:
    return role in _GRANTS[permission]
