"""Provisioning devices onto the broker: their credentials, claim codes and configuration bundles.

    account, password = issue_device_credentials(store, "aq-0012", now=now)       # or rotate=True
    bundle = device_bundle(settings, device, password, now=now)                     # JSON for the device
    png = bundle_qr_png(bundle)                                                      # the same, as a QR code
    code = issue_claim_code(store, "aq-0013", now=now, hours=720)                    # zero-touch instead
    revoke_device_credentials(store, "aq-0012", now=now)

Nothing here touches the broker: a new, rotated or revoked password takes effect at the broker
once its password file is written again and Mosquitto reloaded (mqttwire/mosquitto.py,
`gridtwin broker config`), which the gateway does by itself after a claim when it is told
where the files are (`[provisioning]`).
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import orjson

from twin.devices.device import Device, DeviceStatus, check_device_id
from twin.devices.mqttaccounts import (
    AccountKind,
    MqttAccount,
    claim_username,
    issue_account,
    new_claim_code,
    verify_mosquitto_hash,
)
from twin.errors import DeviceNotFound, TwinError
from twin.people.users import Role
from twin.times import rfc3339

if TYPE_CHECKING:
    from twin.store.base import TwinStore

log = logging.getLogger(__name__)

__all__ = [
    "issue_device_credentials", "revoke_device_credentials", "issue_claim_code", "redeem_claim_code", "ClaimRefused",
    "device_bundle", "bundle_qr_png", "issue_reporter_credentials", "ensure_service_accounts", "BUNDLE_FORMAT",
]  # fmt: skip

BUNDLE_FORMAT = "gridtwin-device-bundle/1"


class ClaimRefused(TwinError):
    """A claim that gets no credentials; `code` says why (unknown_device, no_claim, wrong_code, used)."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def _device(store: TwinStore, device_id: str) -> Device:
    check_device_id(device_id)
    device = store.get_device(device_id)
    if device is None:
        raise DeviceNotFound(device_id)
    return device


def _free(store: TwinStore, username: str, kind: AccountKind, subject: str) -> MqttAccount | None:
    """The account of this user name if it is the same subject's; TwinError if someone else holds it."""
    existing = store.get_mqtt_account(username)
    if existing is not None and (existing.kind != kind or existing.subject != subject):
        raise TwinError(f"the MQTT user name {username} is taken by {existing.kind} {existing.subject}; "
                        "device ids and reporter names share the broker's user names")
    return existing


def issue_device_credentials(store: TwinStore, device_id: str, *, now: float,
                             rotate: bool = False) -> tuple[MqttAccount, str]:
    """A new password for a device's own account (user name = device id): (account, password). A device
    that has active credentials keeps them unless `rotate`, which replaces them (the old password
    stops working at the broker with the next password file)."""
    device = _device(store, device_id)
    existing = _free(store, device.id, AccountKind.DEVICE, device.id)
    if existing is not None and existing.active and not rotate:
        raise TwinError(f"device {device.id} already has MQTT credentials (issued {rfc3339(existing.created_at)}); "
                        "rotate them (`--rotate`, or Rotate on the technician page) to get a new password")
    account, password = issue_account(AccountKind.DEVICE, device.id, device.id, now=now)
    store.put_mqtt_account(account)
    log.info("device %s: MQTT credentials %s", device.id, "rotated" if existing is not None else "issued")
    return account, password


def revoke_device_credentials(store: TwinStore, device_id: str, *, now: float) -> list[str]:
    """Revoke a device's password and any unused claim code; the user names revoked."""
    device = _device(store, device_id)
    revoked = store.revoke_mqtt_accounts(device.id, now, [AccountKind.DEVICE, AccountKind.CLAIM])
    log.info("device %s: revoked MQTT account(s) %s", device.id, ", ".join(revoked) or "(none were active)")
    return revoked


def issue_claim_code(store: TwinStore, device_id: str, *, now: float, hours: float = 720.0) -> str:
    """A one-time claim code for a registered device (printed once; only its hash is kept). With it the
    device logs in as `claim-<id>` and asks for its credentials on `{prefix}/claim/<id>`."""
    device = _device(store, device_id)
    if device.status == DeviceStatus.DISABLED:
        raise TwinError(f"device {device.id} is disabled; enable it before issuing a claim code")
    username = claim_username(device.id)
    _free(store, username, AccountKind.CLAIM, device.id)
    code = new_claim_code()
    account, _ = issue_account(AccountKind.CLAIM, username, device.id, now=now, expires_at=now + hours * 3600.0,
                               password=code)
    store.put_mqtt_account(account)
    return code


def redeem_claim_code(store: TwinStore, device_id: str, code: object, *, now: float) -> tuple[MqttAccount, str]:
    """The device's new credentials for a correct, unused, unexpired claim code: (account, password).
    Raises ClaimRefused otherwise; a code works once, even when two claims race."""
    try:
        device = _device(store, device_id)
    except TwinError:
        raise ClaimRefused("unknown_device", f"device {device_id!r} is not registered") from None
    claim = store.get_mqtt_account(claim_username(device.id))
    if claim is None or claim.kind != AccountKind.CLAIM:
        raise ClaimRefused("no_claim", f"device {device.id} has no claim code")
    if not isinstance(code, str) or not verify_mosquitto_hash(code, claim.password_hash):
        raise ClaimRefused("wrong_code", f"the claim code for device {device.id} is wrong")
    if not claim.usable(now):
        why = "was already used" if claim.revoked_at is not None else "has expired"
        raise ClaimRefused("used" if claim.revoked_at is not None else "expired",
                           f"the claim code for device {device.id} {why}; ask a technician for a new one")
    account, password = issue_account(AccountKind.DEVICE, device.id, device.id, now=now)
    if not store.redeem_claim(claim.username, account, now):
        raise ClaimRefused("used", f"the claim code for device {device.id} was already used")
    log.info("device %s claimed its MQTT credentials", device.id)
    return account, password


def device_bundle(settings, device: Device, password: str, *, now: float) -> dict:
    """What a device needs to connect and publish: the broker, its login and its topics (JSON)."""
    prefix = settings.mqtt.prefix
    p = settings.provisioning
    topics = {"readings": f"{prefix}/readings/{device.id}", "camera_events": f"{prefix}/camera/{device.id}/events",
              "status": f"{prefix}/status/{device.id}"}
    return {
        "format": BUNDLE_FORMAT,
        "device_id": device.id,
        "kind": str(device.kind),
        "broker": {"host": p.broker_host or settings.mqtt.host, "port": p.broker_port or settings.mqtt.port,
                   "tls": p.broker_tls},
        "client_id": device.id,
        "username": device.id,
        "password": password,
        "prefix": prefix,
        "topics": topics,
        "qos": 1,
        "issued_at": rfc3339(now),
    }


def bundle_qr_png(bundle: dict, *, scale: int = 4) -> bytes:
    """The bundle's compact JSON as a QR code PNG (error correction M), for a technician's phone or
    the device's setup app to scan."""
    import segno

    qr = segno.make(orjson.dumps(bundle).decode(), error="m", micro=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def issue_reporter_credentials(store: TwinStore, reporter: str, *, now: float,
                               rotate: bool = False) -> tuple[MqttAccount, str]:
    """MQTT credentials of a mobile reporter (a user with the reporter or grid_worker role), who may then
    publish only on `{prefix}/reports/<name>`."""
    user = store.get_user(reporter)
    if user is None or user.role not in (Role.REPORTER, Role.GRID_WORKER):
        raise TwinError(f"{reporter} is not a reporter: create the user with `gridtwin users add {reporter} "
                        "--role reporter` (or grid_worker) first")
    existing = _free(store, reporter, AccountKind.REPORTER, reporter)
    if existing is not None and existing.active and not rotate:
        raise TwinError(f"reporter {reporter} already has MQTT credentials; rotate them to get a new password")
    account, password = issue_account(AccountKind.REPORTER, reporter, reporter, now=now)
    store.put_mqtt_account(account)
    return account, password


def ensure_service_accounts(store: TwinStore, settings, *, now: float,
                            rotate: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """Create the gateway's and the web app's broker accounts when missing (or when named in `rotate`):
    service -> (user name, password) of those created now. The passwords are shown once."""
    p = settings.provisioning
    made: dict[str, tuple[str, str]] = {}
    for service, kind, username in (("gateway", AccountKind.GATEWAY, p.gateway_username),
                                    ("web", AccountKind.WEB, p.web_username)):
        existing = _free(store, username, kind, service)
        if existing is not None and existing.active and service not in rotate:
            continue
        account, password = issue_account(kind, username, service, now=now)
        store.put_mqtt_account(account)
        made[service] = (username, password)
    return made
