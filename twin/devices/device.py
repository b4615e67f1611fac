"""Devices: sensors and cameras registered in the twin, with their location and cell."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from twin.errors import DeviceError

__all__ = ["Device", "DeviceKind", "DeviceStatus", "check_device_id", "DEVICE_ID"]

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class DeviceKind(enum.StrEnum):
    SENSOR = "sensor"
    CAMERA = "camera"


class DeviceStatus(enum.StrEnum):
    REGISTERED = "registered"  # known, never heard from
    ONLINE = "online"
    OFFLINE = "offline"
    PENDING = "pending"  # seen through an adapter, waiting for a technician to place it
    DISABLED = "disabled"  # its messages are refused (dead letter `unauthorized`)


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device. Fixed devices keep `cell_code` resolved at registration;
    mobile devices report `loc` with every reading and are located per reading."""

    id: str
    kind: DeviceKind
    lat: float | None
    lon: float | None
    model: str = ""
    metrics: tuple[str, ...] = ()
    mobile: bool = False
    cell_code: str | None = None
    status: DeviceStatus = DeviceStatus.REGISTERED
    name: str = ""
    registered_at: float = 0.0  # Unix epoch seconds
    last_seen: float | None = None
    attributes: dict = field(default_factory=dict, compare=False, hash=False)


def check_device_id(device_id: str) -> str:
    """Return `device_id` if it is usable in MQTT topics, else raise DeviceError.

    >>> check_device_id("aq-0012")
    'aq-0012'
    >>> check_device_id("a/b")
    Traceback (most recent call last):
    ...
    twin.errors.DeviceError: device id 'a/b' is invalid: use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit
    """
    if not isinstance(device_id, str) or not DEVICE_ID.match(device_id):
        raise DeviceError(
            f"device id {device_id!r} is invalid: use 1-64 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return device_id
