"""Who may do what: each permission names the roles that have it; acting on a case as a grid
worker also needs the case to be assigned to you.

| Permission      | viewer | dispatcher | grid_worker         | admin | technician | reporter |
|-----------------|--------|------------|---------------------|-------|------------|----------|
| read cases, KPI | yes    | yes        | yes                 | yes   | yes        | yes      |
| report a case   |        | yes        | yes                 | yes   |            |          |
| file, cancel, dispatch, reassign, close, reopen, evaluate | | yes | | yes | |   |
| accept, handle  |        |            | assigned cases only |       |            |          |
| read the audit log |     |            |                     | yes   |            |          |
| register, place and provision devices | | |              | yes   | yes        |          |
| send field reports |     |            | yes                 |       |            | yes      |
| see who sent field reports | | yes  |                     | yes   |            |          |

Anonymous requests act as the configured anonymous role (the map wall's viewer by
default; `auth.anonymous = "none"` makes every request log in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from twin.errors import AccessDenied
from twin.people.users import Role

__all__ = ["Principal", "PERMISSIONS", "authorize", "can", "describe", "ANONYMOUS_NAME"]

ANONYMOUS_NAME = "anonymous"

_ALL = frozenset(Role)
_DESK = frozenset({Role.DISPATCHER, Role.ADMIN})

PERMISSIONS: dict[str, frozenset[Role]] = {
    "case.read": _ALL,
    "kpi.read": _ALL,
    "case.report": frozenset({Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN}),
    # The desk's actions of the case workflow (twin.cases.workflow.Action), by name.
    **{f"case.{a}": _DESK for a in ("file", "cancel", "dispatch", "reassign", "close", "reopen", "evaluate")},
    "case.accept": frozenset({Role.GRID_WORKER}),
    "case.handle": frozenset({Role.GRID_WORKER}),
    "audit.read": frozenset({Role.ADMIN}),
    "device.register": frozenset({Role.TECHNICIAN, Role.ADMIN}),
    # Placing a device, its MQTT credentials and claim codes.
    "device.provision": frozenset({Role.TECHNICIAN, Role.ADMIN}),
    # Mobile reports (twin/cases/reports.py): sent by reporters and grid workers, read in full by the desk;
    # everyone else sees reports and the leaderboard without reporters' names.
    "report.submit": frozenset({Role.REPORTER, Role.GRID_WORKER}),
    "report.identity": _DESK,
}

# Permissions that also need the case to be assigned to the acting user.
ASSIGNEE_ONLY = frozenset({"case.accept", "case.handle"})


class Assigned(Protocol):
    """What access needs of a case: its id, and the grid worker it is assigned to."""

    @property
    def id(self) -> str: ...

    @property
    def assignee(self) -> str | None: ...


def describe(permission: str) -> str:
    """What a permission lets one do, for messages: 'case.accept' -> 'accept cases'."""
    noun, verb = permission.split(".", 1)
    return {"case.read": "read cases", "kpi.read": "read the governance figures", "audit.read": "read the audit log",
            "device.register": "register devices", "case.report": "report cases",
            "device.provision": "place devices and manage their credentials",
            "report.submit": "send field reports", "report.identity": "see who sent field reports"}.get(permission, f"{verb} {noun}s")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user (by session or token), the anonymous role, or GridTwin itself."""

    name: str
    role: Role | None  # None: anonymous with no role (auth.anonymous = "none")
    via: str = "session"  # "session", "token", "anonymous", "cli" or "system"

    @property
    def authenticated(self) -> bool:
        return self.via in ("session", "token", "cli")


def can(principal: Principal, permission: str, case: Assigned | None = None) -> bool:
    roles = PERMISSIONS.get(permission)
    if roles is None:
        raise KeyError(f"unknown permission {permission!r}")
    if principal.role not in roles:
        return False
    if permission in ASSIGNEE_ONLY:
        return case is not None and case.assignee == principal.name
    return True


def authorize(principal: Principal, permission: str, case: Assigned | None = None) -> None:
    """Raise AccessDenied, saying which role or assignment is needed, unless `principal` may."""
    if can(principal, permission, case):
        return
    roles = sorted(PERMISSIONS[permission])
    who = f"{principal.name} ({principal.role or 'no role'})"
    if principal.role in PERMISSIONS[permission] and permission in ASSIGNEE_ONLY:
        raise AccessDenied(f"{who} may {describe(permission)} only when they are assigned to them; "
                           f"case {case.id if case else '?'} is assigned to {case.assignee if case else None}")
    hint = "" if principal.authenticated else "; log in (POST /api/login) or send a bearer token"
    raise AccessDenied(f"{who} may not {describe(permission)}: that needs the role "
                       f"{' or '.join(str(r) for r in roles)}{hint}")
