"""Device health: what the gateway heard from a device, and why a device is silent.

The gateway keeps per device the time of its last accepted message, its battery, its radio
signal when the source reports one (LoRaWAN RSSI and SNR from The Things Stack, Zigbee link
quality) and how many messages it sent, per hour (`Vitals`, stored with
`TwinStore.record_vitals`). `diagnose` puts that together with the device's status, its dead
letters and its MQTT credentials into one answer a technician can act on:

| diagnosis | when |
|---|---|
| `ok` | heard from within `silent_after_s` |
| `pending` | seen through an adapter, waiting to be placed |
| `disabled` | its messages are refused on purpose |
| `stale_clock` | its latest messages were refused for their timestamps (or its clock is far off) |
| `rejected_payloads` | its latest messages were refused (bad JSON, schema, unknown metric, ...) |
| `refused_credentials` | its credentials were revoked, rotated after it was last heard, or are newer than the broker's password file |
| `never_connected` | never heard from, nothing refused |
| `offline` | said goodbye (MQTT last will / `offline` status) or silent for longer than `silent_after_s` |

Mosquitto does not log the client id of a refused login, so `refused_credentials` is read
from the credentials' own history in the store, not from the broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from twin.devices.device import Device, DeviceStatus
from twin.times import rfc3339

if TYPE_CHECKING:
    from twin.store.base import TwinStore

__all__ = ["Vitals", "DeviceVitals", "Health", "diagnose", "health_of", "SILENT_AFTER_S", "CLOCK_SKEW_S", "TIME_REASONS"]

SILENT_AFTER_S = 900.0  # no accepted message for this long: the device counts as silent
CLOCK_SKEW_S = 120.0  # accepted timestamps this far from the receive time: its clock is off
RECENT_S = 3600.0  # dead letters and credential changes older than this do not explain a silence
TIME_REASONS = frozenset({"stale_timestamp", "future_timestamp"})
HOUR = 3600


class Vitals(msgspec.Struct, frozen=True, gc=False):
    """What one batch (or a few) told the gateway about one device. `at` is the receive time of the
    latest accepted message; the latest battery, signal and clock skew are those of that message.
    (A msgspec Struct: the gateway makes one per device and batch, a frozen dataclass is slow to make.)"""

    device_id: str
    at: float
    messages: int = 1
    battery: float | None = None
    rssi: float | None = None
    snr: float | None = None
    linkquality: float | None = None
    clock_skew_s: float | None = None  # the message's own timestamp minus its receive time

    def merge(self, later: "Vitals") -> "Vitals":
        """Both batches' counts; the newer message's readings, keeping older ones it did not report."""
        new, old = (later, self) if later.at >= self.at else (self, later)
        return Vitals(self.device_id, new.at, self.messages + later.messages,
                      old.battery if new.battery is None else new.battery,
                      old.rssi if new.rssi is None else new.rssi,
                      old.snr if new.snr is None else new.snr,
                      old.linkquality if new.linkquality is None else new.linkquality,
                      old.clock_skew_s if new.clock_skew_s is None else new.clock_skew_s)


@dataclass(frozen=True, slots=True)
class DeviceVitals:
    """What the store keeps of a device's vitals; `messages_last_hour` as of the time asked."""

    device_id: str
    last_message_at: float | None
    battery: float | None
    rssi: float | None
    snr: float | None
    linkquality: float | None
    clock_skew_s: float | None
    messages: int
    messages_last_hour: float = 0.0


@dataclass(frozen=True, slots=True)
class Health:
    diagnosis: str
    message: str
    silent: bool
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"diagnosis": self.diagnosis, "message": self.message, "silent": self.silent, **self.details}


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def diagnose(device: Device, vitals: DeviceVitals | None, dead_letters: dict[str, tuple[int, float]],
             account, now: float, *, silent_after_s: float = SILENT_AFTER_S) -> Health:
    """Why `device` is silent (or that it is not). `dead_letters` is reason -> (count, last time) of
    its dead letters; `account` its active device MQTT account or the latest revoked one (None when
    it never had credentials). See the module docstring for the diagnoses, first match wins."""
    last_seen = device.last_seen
    if vitals is not None and vitals.last_message_at is not None:
        last_seen = max(last_seen or 0.0, vitals.last_message_at)
    silent = last_seen is None or now - last_seen > silent_after_s
    rate = None if vitals is None else round(vitals.messages_last_hour / 60.0, 3)
    details = {
        "last_seen": rfc3339(last_seen),
        "battery": None if vitals is None else vitals.battery,
        "signal": None if vitals is None or (vitals.rssi, vitals.snr, vitals.linkquality) == (None,) * 3 else
        {"rssi": vitals.rssi, "snr": vitals.snr, "linkquality": vitals.linkquality},
        "messages_last_hour": None if vitals is None else round(vitals.messages_last_hour),
        "message_rate_per_min": rate,
        "clock_skew_s": None if vitals is None else vitals.clock_skew_s,
        "dead_letters": {reason: count for reason, (count, _) in sorted(dead_letters.items())},
        "credentials": _credentials_json(account),
    }

    def answer(diagnosis: str, message: str) -> Health:
        return Health(diagnosis, message, silent, details)

    if device.status == DeviceStatus.DISABLED:
        return answer("disabled", f"{device.id} is disabled: the gateway refuses its messages")
    if device.status == DeviceStatus.PENDING:
        return answer("pending", f"{device.id} was seen through an adapter and waits to be placed on the map; "
                                 "its data is kept and counted to its cell once it is placed")
    # Refusals after the last accepted message explain a silence; older ones are history.
    fresh = {reason: (count, at) for reason, (count, at) in dead_letters.items()
             if at > (last_seen or 0.0) and now - at <= RECENT_S}
    timing = {r: v for r, v in fresh.items() if r in TIME_REASONS}
    if timing:
        reason, (count, at) = max(timing.items(), key=lambda item: item[1][1])
        ahead = "ahead" if reason == "future_timestamp" else "behind"
        return answer("stale_clock", f"{device.id}'s latest messages ({count} refused as {reason}, the last "
                                     f"{_ago(now - at)}) carry timestamps too far {ahead}: set its clock (NTP)")
    if vitals is not None and vitals.clock_skew_s is not None and abs(vitals.clock_skew_s) > CLOCK_SKEW_S:
        return answer("stale_clock", f"{device.id}'s clock is {vitals.clock_skew_s:+.0f} s off the gateway's; "
                                     "its readings are stored under the wrong times: set its clock (NTP)")
    if fresh:
        reason, (count, at) = max(fresh.items(), key=lambda item: item[1][1])
        return answer("rejected_payloads", f"{device.id} keeps sending messages the gateway refuses: the last "
                                           f"{_ago(now - at)} as {reason} ({count} in all); "
                                           f"see {reason} dead letters on MQTT")
    refused = _refused(device, account, last_seen, now) if silent else None
    if refused:
        return answer("refused_credentials", refused)
    if last_seen is None:
        return answer("never_connected", f"{device.id} has never sent a message the gateway accepted: check its "
                                         "power, network and broker settings (its configuration bundle)")
    if device.status == DeviceStatus.OFFLINE:
        return answer("offline", f"{device.id} said it went offline (last will); last heard {_ago(now - last_seen)}")
    if silent:
        return answer("offline", f"{device.id} has been silent since {rfc3339(last_seen)} ({_ago(now - last_seen)})")
    return answer("ok", f"{device.id} was heard {_ago(now - last_seen)}")


def _credentials_json(account) -> dict | None:
    if account is None:
        return None
    state = "revoked" if account.revoked_at is not None else (
        "active" if account.applied_at is not None and account.applied_at >= account.created_at else "not_applied")
    return {"state": state, "issued_at": rfc3339(account.created_at), "revoked_at": rfc3339(account.revoked_at),
            "applied_at": rfc3339(account.applied_at)}


def _refused(device: Device, account, last_seen: float | None, now: float) -> str | None:
    if account is None:
        return None
    if account.revoked_at is not None and (last_seen is None or last_seen < account.revoked_at):
        return (f"{device.id}'s MQTT credentials were revoked at {rfc3339(account.revoked_at)}: the broker refuses "
                "it; issue new ones (technician page or `gridtwin devices credentials`)")
    if account.applied_at is None or account.applied_at < account.created_at:
        return (f"{device.id}'s password (issued {rfc3339(account.created_at)}) is newer than the broker's "
                "password file: the broker refuses it until `gridtwin broker config` writes the files and "
                "Mosquitto is reloaded")
    if last_seen is not None and last_seen < account.created_at:
        return (f"{device.id}'s password was changed at {rfc3339(account.created_at)} and it has not been heard "
                "since: it probably still uses the old one; load its new configuration bundle")
    return None


def health_of(store: TwinStore, device: Device, now: float, *, silent_after_s: float = SILENT_AFTER_S) -> Health:
    """`diagnose` with what the store knows of the device: its vitals, dead letters and MQTT account."""
    account = store.get_mqtt_account(device.id)
    if account is not None and (account.kind != "device" or account.subject != device.id):
        account = None  # the user name belongs to someone else (a reporter of the same name)
    return diagnose(device, store.device_vitals(device.id, now), store.dead_letter_stats(device.id), account, now,
                    silent_after_s=silent_after_s)
