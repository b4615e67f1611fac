"""Users and their bearer tokens in the store: written once for both backends.

`PeopleTables` is mixed into SqliteStore and PostgresStore beside `CaseTables` (what it needs of
each backend: `Tables` in twin/store/_sql.py). Every change to a user or a token is recorded in
the audit log in the same transaction.
"""

from __future__ import annotations

from typing import Sequence

from twin.people.audit import AuditEntry, AuditRecord
from twin.people.users import BearerToken, Role, User
from twin.store import _sql as sql
from twin.store._cases import append_entries

USER_COLUMNS = ("name", "role", "password_hash", "display_name", "created_at", "disabled")
CREDENTIAL_COLUMNS = ("digest", "kind", "user_name", "created_at", "expires_at", "label")


def user_from_row(row: Sequence) -> User:
    name, role, password_hash, display_name, created_at, disabled = row
    return User(name, Role(role), password_hash, display_name, created_at, bool(disabled))


class PeopleTables(sql.Tables):
    """The users and bearer tokens methods of TwinStore (see twin/store/base.py for their contracts)."""

    def put_user(self, user: User, entry: AuditEntry) -> AuditRecord:
        d = self._dialect
        row = [user.name, str(user.role), user.password_hash, user.display_name, d.time_in(user.created_at),
               bool(user.disabled)]
        with self._audit_transaction("put_user") as cur:
            cur.execute(sql.upsert(d, "users", USER_COLUMNS, "name"), row)
            return append_entries(cur, d, [entry])[0]

    def get_user(self, name: str) -> User | None:
        d = self._dialect
        rows = self._fetch("get_user", (f"SELECT {sql.select_list(d, USER_COLUMNS, ('created_at',))} FROM users "
                                        f"WHERE name = {d.param}", [name]))
        return user_from_row(rows[0]) if rows else None

    def list_users(self) -> list[User]:
        d = self._dialect
        rows = self._fetch("list_users", (f"SELECT {sql.select_list(d, USER_COLUMNS, ('created_at',))} FROM users "
                                          "ORDER BY name", []))
        return [user_from_row(r) for r in rows]

    def add_credential(self, credential: BearerToken, entry: AuditEntry | None = None) -> None:
        d = self._dialect
        c = credential
        row = [c.digest, c.kind, c.user_name, d.time_in(c.created_at),
               None if c.expires_at is None else d.time_in(c.expires_at), c.label]
        with self._audit_transaction("add_credential") as cur:
            if c.kind == "session":  # sweep ended sessions now and then: at every login
                cur.execute(f"DELETE FROM credentials WHERE kind = 'session' AND expires_at < {d.param}",
                            [d.time_in(c.created_at)])
            cur.execute(sql.insert(d, "credentials", CREDENTIAL_COLUMNS), row)
            if entry is not None:
                append_entries(cur, d, [entry])

    def credential_user(self, digest: str, kind: str, now: float) -> User | None:
        d = self._dialect
        p = d.param
        columns = sql.select_list(d, USER_COLUMNS, ("created_at",), table="u")
        query = (f"SELECT {columns} FROM credentials c JOIN users u ON u.name = c.user_name WHERE c.digest = {p} "
                 f"AND c.kind = {p} AND (c.expires_at IS NULL OR c.expires_at > {p}) AND NOT u.disabled")
        rows = self._fetch("credential_user", (query, [digest, kind, d.time_in(now)]))
        return user_from_row(rows[0]) if rows else None

    def delete_credential(self, digest: str, entry: AuditEntry | None = None) -> bool:
        with self._audit_transaction("delete_credential") as cur:
            cur.execute(f"DELETE FROM credentials WHERE digest = {self._dialect.param}", [digest])
            found = cur.rowcount > 0
            if found and entry is not None:
                append_entries(cur, self._dialect, [entry])
        return found

    def list_credentials(self, user_name: str | None = None) -> list[BearerToken]:
        d = self._dialect
        clause, params = sql.where(d, [("user_name = {}", user_name)])
        columns = sql.select_list(d, CREDENTIAL_COLUMNS, ("created_at", "expires_at"))
        rows = self._fetch("list_credentials", (f"SELECT {columns} FROM credentials{clause} ORDER BY created_at, digest", params))
        return [BearerToken(*r) for r in rows]
