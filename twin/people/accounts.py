"""Accounts in the store: creating users, issuing bearer tokens, logging in and out.

Every one of these writes is recorded in the audit log (subject "user"), with the
actor: a user name, or `cli:<login>` for the command line.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from twin.errors import TwinError
from twin.people.audit import AuditEntry
from twin.people.users import (
    DUMMY_HASH,
    BearerToken,
    Role,
    User,
    check_user_name,
    digest,
    hash_password,
    new_secret,
    verify_password,
)

if TYPE_CHECKING:
    from twin.store.base import TwinStore

log = logging.getLogger(__name__)

__all__ = ["create_user", "issue_token", "login", "logout", "user_for_token", "user_for_session"]

SESSION_PREFIX = "gts_"


def _entry(now: float, actor: str, action: str, name: str, note: str = "", details: dict | None = None) -> AuditEntry:
    return AuditEntry(at=now, actor=actor, action=action, subject="user", subject_id=name, note=note,
                      details=details or {})


def create_user(store: TwinStore, name: str, role: str | Role, *, now: float, actor: str, password: str | None = None,
                display_name: str = "", cost: tuple[int, int, int] | None = None) -> User:
    """A new user; TwinError when the name is taken or invalid, or the role unknown.
    Without a password the user can only use bearer tokens (an integrator)."""
    check_user_name(name)
    try:
        role = Role(role)
    except ValueError:
        raise TwinError(f"role {role!r} is not one of {', '.join(r.value for r in Role)}") from None
    if store.get_user(name) is not None:
        raise TwinError(f"user {name} already exists; `gridtwin users list` shows the users")
    password_hash = None
    if password is not None:
        password_hash = hash_password(password, cost) if cost else hash_password(password)
    user = User(name, role, password_hash, display_name, now)
    store.put_user(user, _entry(now, actor, "user.create", name, details={"role": str(role),
                                                                           "password": password is not None}))
    return user


def issue_token(store: TwinStore, name: str, *, now: float, actor: str, label: str = "") -> str:
    """A new bearer token for user `name`; only its digest is stored, so it is shown this once."""
    if store.get_user(name) is None:
        raise TwinError(f"user {name} does not exist; create it with `gridtwin users add {name} --role ROLE`")
    token = new_secret()
    store.add_credential(BearerToken(digest(token), "token", name, now, None, label),
                         _entry(now, actor, "token.issue", name, label, {"token_digest": digest(token)[:12]}))
    return token


def login(store: TwinStore, name: str, password: str, *, now: float, hours: float) -> tuple[str, User] | None:
    """A new session for a correct name and password: (session id, user); None otherwise.
    An unknown name costs as much time as a wrong password."""
    user = store.get_user(name) if isinstance(name, str) else None
    if user is None or user.disabled or user.password_hash is None:
        verify_password(password, DUMMY_HASH)
        log.warning("login refused for %r: no such user, disabled, or token-only", name)
        return None
    if not verify_password(password, user.password_hash):
        log.warning("login refused for %s: wrong password", name)
        return None
    session = new_secret(SESSION_PREFIX)
    store.add_credential(BearerToken(digest(session), "session", user.name, now, now + hours * 3600.0),
                         _entry(now, user.name, "login", user.name))
    return session, user


def logout(store: TwinStore, session: str, user: User, *, now: float) -> bool:
    return store.delete_credential(digest(session), _entry(now, user.name, "logout", user.name))


def user_for_token(store: TwinStore, token: str, now: float) -> User | None:
    return store.credential_user(digest(token), "token", now)


def user_for_session(store: TwinStore, session: str, now: float) -> User | None:
    return store.credential_user(digest(session), "session", now)
