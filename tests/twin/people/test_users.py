"""Passwords, tokens and the role table."""

from __future__ import annotations

import pytest

from twin.cases.workflow import Action, Case, Status
from twin.errors import AccessDenied, TwinError
from twin.people.access import PERMISSIONS, Principal, authorize, can
from twin.people.users import SCRYPT_COST, Role, check_user_name, digest, hash_password, new_secret, verify_password
from twin.sensing.catalog import Level

FAST = (2**10, 8, 1)


def test_password_hashes_are_salted_slow_scrypt():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second  # a fresh salt each time
    scheme, n, r, p, salt, key = first.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", *SCRYPT_COST) and SCRYPT_COST[0] >= 2**15
    assert "correct horse" not in first
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct horsE", first)


@pytest.mark.parametrize("stored", [None, "", "md5$abc", "scrypt$x$8$1$AA$AA", "scrypt$1024$8$1$!!$AA"])
def test_malformed_hashes_never_verify(stored):
    assert not verify_password("anything", stored)


def test_short_passwords_are_refused():
    with pytest.raises(TwinError, match="at least 8"):
        hash_password("short", FAST)


def test_tokens_are_random_and_only_their_digest_is_kept():
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith("gtt_") and len(a) > 40
    assert digest(a) == digest(a) != digest(b) and a not in digest(a) and len(digest(a)) == 64


@pytest.mark.parametrize("name, ok", [("dana", True), ("wang.fang", True), ("ops@kaifeng", True),
                                      ("worker-1", True), ("", False), ("a b", False), ("-x", False),
                                      ("x" * 65, False), (None, False)])
def test_user_names(name, ok):
    if ok:
        assert check_user_name(name) == name
    else:
        with pytest.raises(TwinError):
            check_user_name(name)


# -- who may do what --------------------------------------------------------------------
V, D, G, AD, T, R = Role.VIEWER, Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN, Role.TECHNICIAN, Role.REPORTER
MATRIX = {  # permission -> the roles that have it
    "case.read": {V, D, G, AD, T, R},
    "kpi.read": {V, D, G, AD, T, R},
    "case.report": {D, G, AD},
    "case.file": {D, AD},
    "case.cancel": {D, AD},
    "case.dispatch": {D, AD},
    "case.reassign": {D, AD},
    "case.close": {D, AD},
    "case.reopen": {D, AD},
    "case.evaluate": {D, AD},
    "case.accept": {G},  # and only the assignee
    "case.handle": {G},  # and only the assignee
    "audit.read": {AD},
    "device.register": {T, AD},
    "device.provision": {T, AD},
    "report.submit": {G, R},  # mobile reporters and grid workers earn points for their reports
    "report.identity": {D, AD},  # who sent a report: hidden from the wall and from other reporters
}
CASE = Case("C-20261129-0001", "fire", Level.CRITICAL, "410204001001001", Status.DISPATCHED, assignee="wang")


@pytest.mark.parametrize("permission, role", [(p, r) for p in MATRIX for r in Role])
def test_each_role_is_allowed_or_denied_each_permission(permission, role):
    principal = Principal("wang", role)
    if role in MATRIX[permission]:
        authorize(principal, permission, CASE)
    else:
        with pytest.raises(AccessDenied, match="needs the role"):
            authorize(principal, permission, CASE)


@pytest.mark.parametrize("permission", ["case.accept", "case.handle"])
def test_a_grid_worker_acts_only_on_cases_assigned_to_them(permission):
    assert can(Principal("wang", G), permission, CASE)
    with pytest.raises(AccessDenied, match="only when they are assigned to them"):
        authorize(Principal("li", G), permission, CASE)


def test_every_action_a_person_takes_on_a_case_has_a_permission():
    # twin.people.access names the workflow's actions itself (people know nothing of cases): kept in step here
    assert {f"case.{a}" for a in Action if not a.system} <= set(PERMISSIONS)


def test_anonymous_without_a_role_is_told_to_log_in():
    with pytest.raises(AccessDenied, match="log in"):
        authorize(Principal("anonymous", None, "anonymous"), "case.read")
