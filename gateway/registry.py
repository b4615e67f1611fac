"""The pipeline's cache of the device registry, and the devices third-party adapters report that it
does not know (registered as pending, for a technician to place)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.messages import Decoded
from gateway.types import Adapter
from twin.devices.device import DEVICE_ID, Device, DeviceKind, DeviceStatus

__all__ = ["RegistryCache"]


class RegistryCache:
    def __init__(self, devices: dict[str, Device] | None = None):
        self.devices: dict[str, Device] = dict(devices or {})
        self._sources: dict[str, Adapter] = {}  # unregistered device id -> the third-party adapter that reported it
        self._placed: list[tuple[str, str]] = []

    def unknown_ids(self, decoded: Decoded) -> set[str]:
        """Devices the decoded batch speaks of that the cache does not know, or knows as pending
        (a technician may have placed them since). An id no device can have is not among them."""
        devices, valid = self.devices, DEVICE_ID.match
        return {i for i in decoded.device_ids()
                if (i not in devices or devices[i].status == DeviceStatus.PENDING) and valid(i)}

    def learn(self, devices: Iterable[Device]) -> list[tuple[str, str]]:
        """Update the cache; returns (id, cell) of the cached pending devices that are now placed."""
        placed = []
        for device in devices:
            before = self.devices.get(device.id)
            if (before is not None and before.status == DeviceStatus.PENDING
                    and device.status != DeviceStatus.PENDING and device.cell_code is not None):
                placed.append((device.id, device.cell_code))
            self.devices[device.id] = device
        self._placed += placed
        return placed

    def take_placed(self) -> list[tuple[str, str]]:
        """(id, cell) of the devices placed since the last call, whose cell-less readings need their cell."""
        placed, self._placed = self._placed, []
        return placed

    def forget_pending(self, devices: Sequence[Device]) -> None:
        """Drop pending devices whose registration was not stored, so that they are registered again."""
        for device in devices:
            if self.devices.get(device.id) is device:
                del self.devices[device.id]

    def reported(self, device_ids: Iterable[str], adapter: Adapter) -> None:
        """Remember which adapter reported each device the cache does not know."""
        for device_id in device_ids:
            if device_id not in self.devices and device_id not in self._sources:
                self._sources[device_id] = adapter

    def pending(self, device_id: str, kind: DeviceKind, now: float) -> Device | None:
        """A device first seen through a third-party adapter, registered as pending without a place;
        None when no adapter reported it."""
        adapter = self._sources.pop(device_id, None)
        if adapter is None:
            return None
        info = adapter.describe(device_id)
        device = Device(device_id, info.get("kind") or kind, None, None, model=info.get("model", ""),
                        status=DeviceStatus.PENDING, name=info.get("name", ""), registered_at=now,
                        attributes=info.get("attributes", {}))
        self.devices[device_id] = device
        return device
