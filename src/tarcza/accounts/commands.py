"""``tarcza agency add`` and ``tarcza user add|list``: accounts from the command line.

Whoever runs the server makes the agencies and each agency's first
administrator here; the administrators make the rest on /staff/users.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from tarcza.accounts.permissions import AgencyKind, Role
from tarcza.accounts.service import AccountService
from tarcza.services import ServicesFactory

Handler = Callable[[argparse.Namespace, ServicesFactory], int]


def _accounts(services: ServicesFactory) -> AccountService:
    """The application's AccountService."""
    return services().get(AccountService)


def _guarded(handler: Handler) -> Handler:
    """Print a refusal as ``tarcza: field: message`` with exit code 1."""

    def run(args: argparse.Namespace, services: ServicesFactory) -> int:
        from tarcza.accounts.service import AccountNotFound, AccountRefused

        try:
            return handler(args, services)
        except AccountRefused as exc:
            print(f"tarcza: {exc.field}: {exc.message}", file=sys.stderr)
        except AccountNotFound:
            print("tarcza: no such account", file=sys.stderr)
        return 1

    return run


@_guarded
def _agency_add(args: argparse.Namespace, services: ServicesFactory) -> int:
    accounts = _accounts(services)
    agency = accounts.add_agency(args.code, args.name or args.code, AgencyKind(args.kind))
    print(f"agency {agency.code} ({agency.kind.value}): {agency.name}")
    return 0


def _read_password() -> str | None:
    line = sys.stdin.readline()
    return line.rstrip("\r\n") or None


@_guarded
def _user_add(args: argparse.Namespace, services: ServicesFactory) -> int:
    password = None
    if args.password_stdin:
        password = _read_password()
        if password is None:
            print("tarcza: password: nothing was given on standard input", file=sys.stderr)
            return 1
    accounts = _accounts(services)
    account = accounts.add_user(
        None,
        agency=args.agency,
        username=args.username,
        role=Role(args.role),
        display_name=args.name,
        password=password,
    )
    print(f"user {account.username} added to {args.agency} as {args.role}")
    if password is None:
        print("first password (shown only now; give it to the person by a safe channel):")
        print(account.password)
    print(
        "At the first sign-in (/staff/login) they set up an authenticator app (TOTP) "
        "and receive their recovery codes."
    )
    return 0


@_guarded
def _user_list(args: argparse.Namespace, services: ServicesFactory) -> int:
    accounts = _accounts(services)
    users = accounts.agency_users(args.agency)
    print(f"{'username':<24} {'role':<14} {'state':<10} second factor")
    for user in users:
        state = "active" if user.active else "suspended"
        factor = "set up" if user.second_factor else "not yet"
        print(f"{user.username:<24} {user.role.value:<14} {state:<10} {factor}")
    return 0


def add_parsers(sub: Any) -> None:
    """``agency`` and ``user`` commands on the top-level parser's subparsers."""
    agency = sub.add_parser("agency", help="agencies (hotline, helpline, police, ...)")
    agency_cmds = agency.add_subparsers(dest="agency_command", required=True)
    add = agency_cmds.add_parser("add", help="add an agency (unchanged when it exists)")
    add.add_argument("code", help="a short code such as hotline or police-cbzc")
    add.add_argument("--kind", required=True, choices=[k.value for k in AgencyKind])
    add.add_argument("--name", default="", help='the full name, e.g. "Dyżurnet.pl"')
    add.set_defaults(func=_agency_add)

    user = sub.add_parser("user", help="staff accounts")
    user_cmds = user.add_subparsers(dest="user_command", required=True)
    user_add = user_cmds.add_parser(
        "add", help="add an account; prints a generated first password once"
    )
    user_add.add_argument("username")
    user_add.add_argument("--agency", required=True, help="the agency's code")
    user_add.add_argument("--role", required=True, choices=[r.value for r in Role])
    user_add.add_argument("--name", default=None, help="the person's name (kept sealed)")
    user_add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the first password from the first line of standard input",
    )
    user_add.set_defaults(func=_user_add)
    user_list = user_cmds.add_parser("list", help="an agency's accounts")
    user_list.add_argument("--agency", required=True, help="the agency's code")
    user_list.set_defaults(func=_user_list)
