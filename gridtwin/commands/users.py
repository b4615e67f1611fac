"""`gridtwin users add|token|list`: the people who work cases, and bearer tokens for integrators.

    gridtwin users add dana --role dispatcher          # asks for the password twice
    printf '%s\n' "$PW" | gridtwin users add wang --role grid_worker --password-stdin
    gridtwin users add bridge --role viewer --no-password
    gridtwin users token bridge --label "district dashboard"   # shown once; only its digest is kept
    gridtwin users list --json

Every change is recorded in the audit log with the actor `cli:<login name>`.
"""

from __future__ import annotations

import getpass
import sys
import time

from gridtwin.cli import add_config_argument
from twin.config import load_settings
from twin.errors import TwinError
from twin.people.users import Role


def register(sub) -> None:
    p = sub.add_parser("users", help="create users and bearer tokens, list users")
    actions = p.add_subparsers(dest="users_action", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="create a user with a role",
                             description="Create a user. Roles: " + ", ".join(r.value for r in Role) + ".")
    add.add_argument("name", help="user name: 1-64 letters, digits, '.', '_', '@' or '-'")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    how.add_argument("--no-password", action="store_true", help="a token-only user (an integrator): no login")
    add.add_argument("--display-name", default="", help="the name pages show")
    _common(add)
    add.set_defaults(func=run_add)

    token = actions.add_parser("token", help="issue a bearer token for a user (printed once)")
    token.add_argument("name")
    token.add_argument("--label", default="", help="what the token is for, kept with it")
    _common(token)
    token.set_defaults(func=run_token)

    listing = actions.add_parser("list", help="list the users")
    _common(listing)
    listing.set_defaults(func=run_list)


def _common(p) -> None:
    p.add_argument("--store", metavar="URL", help="store URL (overrides store.url)")
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _store(args):
    from twin.store import open_store

    store = open_store(args.store or load_settings(args.config).store.url)
    store.migrate()
    return store


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _password(args) -> str | None:
    if args.no_password:
        return None
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise TwinError("no terminal to ask for the password: use --password-stdin (or --no-password)")
    first = getpass.getpass(f"password for {args.name}: ")
    if first != getpass.getpass("again: "):
        raise TwinError("the two passwords differ; nothing was changed")
    return first


def run_add(args, console) -> int:
    from twin.people.accounts import create_user

    password = _password(args)
    with _store(args) as store:
        user = create_user(store, args.name, args.role, now=time.time(), actor=_actor(), password=password,
                           display_name=args.display_name)
    kind = "with a password" if password is not None else "without a password (tokens only)"
    console.result({"user": user.name, "role": str(user.role), "password": password is not None},
                   f"created {user.role} {user.name} {kind}")
    return 0


def run_token(args, console) -> int:
    from twin.people.accounts import issue_token

    with _store(args) as store:
        token = issue_token(store, args.name, now=time.time(), actor=_actor(), label=args.label)
    console.print(f"bearer token for {args.name} (shown once; send it as 'Authorization: Bearer <token>'):")
    console.result({"user": args.name, "token": token, "label": args.label}, token)
    return 0


def run_list(args, console) -> int:
    with _store(args) as store:
        users = store.list_users()
        tokens: dict[str, int] = {}
        for credential in store.list_credentials():
            if credential.kind == "token":
                tokens[credential.user_name] = tokens.get(credential.user_name, 0) + 1
    rows = [u.to_json() | {"tokens": tokens.get(u.name, 0)} for u in users]
    lines = [f"{'NAME':<24} {'ROLE':<12} {'LOGIN':<6} {'TOKENS':>6}  DISPLAY NAME"]
    lines += [f"{u['name']:<24} {u['role']:<12} {'yes' if u['password'] else 'no':<6} {u['tokens']:>6}  "
              f"{u['display_name']}{' (disabled)' if u['disabled'] else ''}" for u in rows]
    console.result({"users": rows}, "\n".join(lines) if rows else "no users yet; add one with `gridtwin users add`")
    return 0
