"""People and what they may do: users with a role, their passwords and bearer tokens, logging
in (accounts), the permissions of each role (access), and the hash-chained audit log of who did
what to which case or user.
"""

from __future__ import annotations

from twin.people.access import ANONYMOUS_NAME, PERMISSIONS, Principal, authorize, can, describe
from twin.people.accounts import create_user, issue_token, login, logout, user_for_session, user_for_token
from twin.people.audit import GENESIS, AuditEntry, AuditRecord, canonical, chain, row_hash, verify_chain
from twin.people.users import (
    SCRYPT_COST,
    BearerToken,
    Role,
    User,
    check_user_name,
    digest,
    hash_password,
    new_secret,
    verify_password,
)

__all__ = ["SCRYPT_COST", "BearerToken", "Role", "User", "check_user_name", "digest", "hash_password", "new_secret",
           "verify_password", "create_user", "issue_token", "login", "logout", "user_for_session", "user_for_token",
           "ANONYMOUS_NAME", "PERMISSIONS", "Principal", "authorize", "can", "describe", "GENESIS", "AuditEntry",
           "AuditRecord", "canonical", "chain", "row_hash", "verify_chain"]
