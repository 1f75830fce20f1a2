"""`fireroom user add`: create an account in a data directory's user store."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

__all__ = ["add_user_parser", "user_command"]

USERS = "users.sqlite3"
EXIT_REFUSED = 1


def add_user_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser("user", help="manage operator accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_commands.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("--data-dir", type=Path, required=True)
    add.add_argument("--username", required=True)
    add.add_argument(
        "--role", required=True,
        choices=["operator", "engineer", "supervisor", "admin", "integrator"],
    )
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise ValueError("the passwords differ")
    return first


def user_command(args: argparse.Namespace) -> int:
    import re

    from services.auth import AuthError, Role, UserStore
    from services.auth.store import USERNAME_PATTERN

    if not re.match(USERNAME_PATTERN, args.username):
        print(f"username {args.username!r} must match {USERNAME_PATTERN}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        password = _password(args.password_stdin)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_REFUSED
    if len(password) < 8:
        print("a password needs at least 8 characters", file=sys.stderr)
        return EXIT_REFUSED
    try:
        with UserStore(args.data_dir / USERS) as users:
            user = users.add(args.username, password, Role(args.role), args.name)
    except AuthError as exc:
        print(exc, file=sys.stderr)
        return EXIT_REFUSED
    print(f"added {user.username} ({user.role.value}) to {args.data_dir / USERS}")
    return 0
