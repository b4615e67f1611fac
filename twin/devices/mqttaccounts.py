"""MQTT accounts: who may connect to the broker, with which password, and what each may touch.

Every device gets its own account (user name = device id) with a generated password; the
gateway and the web app have service accounts; mobile reporters have one each; a device
waiting to be claimed has a one-time `claim` account whose password is its claim code.
The store keeps, for each, Mosquitto's own PBKDF2-SHA512 hash (`$7$iterations$salt$hash`),
so the password file is written from the store alone and a password is never kept in clear.

    account, password = issue_device_account(store, "aq-0012", now=now)   # shown once
    accounts = store.list_mqtt_accounts()                                  # active ones
    mqttwire.mosquitto.password_file(accounts)                             # Mosquitto's format
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from twin.devices.device import check_device_id
from twin.errors import TwinError

__all__ = [
    "AccountKind", "MqttAccount", "mosquitto_hash", "verify_mosquitto_hash", "new_password", "new_claim_code",
    "claim_username", "issue_account", "ITERATIONS",
]  # fmt: skip

# Mosquitto's own default (mosquitto_passwd). The passwords are 128 random bits, so the
# stretching is not what protects them; more iterations would only cost the broker on every connect.
ITERATIONS = 101
SALT_BYTES = 12
HASH_BYTES = 64
CLAIM_PREFIX = "claim-"


class AccountKind(enum.StrEnum):
    DEVICE = "device"  # publishes readings, camera events and status as itself
    CLAIM = "claim"  # a device's one-time claim code: may only ask for its credentials
    REPORTER = "reporter"  # a mobile reporter: publishes field reports as itself
    GATEWAY = "gateway"  # the gateway: reads every inbound topic, publishes the outbound ones
    WEB = "web"  # the web app: reads cell state, events and case updates


@dataclass(frozen=True, slots=True)
class MqttAccount:
    """One broker login. `subject` is the device or reporter it belongs to (the service's name for
    gateway and web). `applied_at` is when a password file holding this password was last written;
    `revoked_at`, when it was revoked (a used claim code is revoked too)."""

    username: str
    kind: AccountKind
    subject: str
    password_hash: str
    created_at: float
    revoked_at: float | None = None
    applied_at: float | None = None
    expires_at: float | None = None  # claim codes only

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def mosquitto_hash(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """`password` hashed the way Mosquitto 2 checks it: PBKDF2-HMAC-SHA512, standard base64.

    >>> h = mosquitto_hash("secret123", salt=bytes(12))
    >>> h.startswith("$7$101$AAAAAAAAAAAAAAAA$"), len(h.rsplit("$", 1)[1])
    (True, 88)
    >>> verify_mosquitto_hash("secret123", h), verify_mosquitto_hash("secret124", h)
    (True, False)
    """
    if not isinstance(password, str) or not password:
        raise TwinError("an MQTT password must be a non-empty string")
    if ":" in password or "\n" in password:
        raise TwinError("an MQTT password may not contain ':' or a line break")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${_b64(salt)}${_b64(key)}"


def verify_mosquitto_hash(password: str, encoded: str) -> bool:
    """Whether `password` matches a `$7$` hash; False for anything malformed.

    >>> verify_mosquitto_hash("x", "$6$not-pbkdf2")
    False
    """
    try:
        _, scheme, iterations, salt, key = encoded.split("$")
        if scheme != "7":
            return False
        expected = base64.b64decode(key, validate=True)
        got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), base64.b64decode(salt, validate=True),
                                  int(iterations), len(expected))
    except (ValueError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(got, expected)


def new_password() -> str:
    """A device or service password: 128 random bits, URL-safe, no ':' (the password file's separator)."""
    return secrets.token_urlsafe(16)


def new_claim_code() -> str:
    """A claim code to print on a label or flash into a device: 80 random bits in groups of four,
    from an alphabet without look-alikes.

    >>> code = new_claim_code(); len(code), code.count("-")
    (19, 3)
    """
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    chars = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def claim_username(device_id: str) -> str:
    """The user name a device claims with: `claim-<device id>`."""
    return CLAIM_PREFIX + check_device_id(device_id)


def issue_account(kind: AccountKind, username: str, subject: str, *, now: float,
                  expires_at: float | None = None, password: str | None = None) -> tuple[MqttAccount, str]:
    """A new account and its password (generated unless given); the caller stores the account and
    hands the password out once."""
    password = password or new_password()
    return MqttAccount(username, AccountKind(kind), subject, mosquitto_hash(password), now,
                       expires_at=expires_at), password
