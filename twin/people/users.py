"""People and integrators: users with a role, their passwords and their bearer tokens.

Passwords are kept as salted scrypt hashes (`scrypt$N$r$p$salt$hash`, the cost in the
string so it can be raised later without breaking stored ones). Bearer tokens and
session ids are long random strings; only their SHA-256 digest is stored, a fast hash
being enough for secrets that are never guessed.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from twin.errors import TwinError

__all__ = [
    "Role", "User", "BearerToken", "check_user_name", "hash_password", "verify_password", "new_secret", "digest",
    "SCRYPT_COST",
]  # fmt: skip

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOKEN_PREFIX = "gtt_"
# N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s per hash on a server core; above the
# 2^14 that Django and the Python documentation start from.
SCRYPT_COST = (2**15, 8, 1)
_MAXMEM = 256 * 1024 * 1024
MIN_PASSWORD = 8


class Role(enum.StrEnum):
    VIEWER = "viewer"  # the map wall: reads everything but the audit log
    DISPATCHER = "dispatcher"  # files, dispatches, reassigns, verifies and evaluates cases
    GRID_WORKER = "grid_worker"  # accepts and handles the cases assigned to them
    ADMIN = "admin"  # a dispatcher who also reads the audit log (and manages users from the command line)
    TECHNICIAN = "technician"  # registers and places devices, issues their MQTT credentials, diagnoses them
    REPORTER = "reporter"  # a mobile reporter (delivery rider, volunteer): sends reports, earns points


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    password_hash: str | None = None  # None: token-only (an integrator)
    display_name: str = ""
    created_at: float = 0.0
    disabled: bool = False

    def to_json(self) -> dict:
        return {"name": self.name, "role": str(self.role), "display_name": self.display_name,
                "created_at": self.created_at, "disabled": self.disabled, "password": self.password_hash is not None}


@dataclass(frozen=True, slots=True)
class BearerToken:
    """A bearer token: an API token (`kind` "token") or a login session ("session"), by the digest of its secret."""

    digest: str
    kind: str
    user_name: str
    created_at: float
    expires_at: float | None = None
    label: str = ""


def check_user_name(name: object) -> str:
    if not isinstance(name, str) or not USER_NAME.match(name):
        raise TwinError(f"user name {name!r} is not valid: 1-64 letters, digits, '.', '_', '@' or '-', "
                        "starting with a letter or digit")
    return name


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, cost: tuple[int, int, int] = SCRYPT_COST) -> str:
    """A salted scrypt hash of `password`, cost and salt included.

    >>> h = hash_password("correct horse", cost=(2**10, 8, 1))
    >>> h.startswith("scrypt$1024$8$1$"), verify_password("correct horse", h), verify_password("wrong", h)
    (True, True, False)
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise TwinError(f"a password needs at least {MIN_PASSWORD} characters")
    n, r, p = cost
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str | None) -> bool:
    """Whether `password` matches `encoded`; False for a malformed hash or a token-only user."""
    try:
        scheme, n, r, p, salt, key = (encoded or "").split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        got = hashlib.scrypt(password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# Checked against when a login names an unknown user, so that it takes as long as a wrong password.
DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    """A new bearer token or session id: 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps of a token or session id."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
