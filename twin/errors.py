"""Errors raised by the twin domain and its stores.

    TwinError
    ├── ConfigError           configuration file or environment is invalid
    ├── GridError             grid generation, import or lookup failed
    │   └── GridValidationError   an imported grid breaks the rules (lists every violation)
    ├── DeviceError           a device cannot be registered or found
    │   ├── DeviceNotFound
    │   └── OutsideGrid       the device's location is in no cell
    └── StoreError            the store failed (connection, migration, query)
"""

from __future__ import annotations


class TwinError(Exception):
    """Base of every error raised by the twin package."""


class ConfigError(TwinError):
    """The configuration is invalid; the message names the key."""


class GridError(TwinError):
    """A grid could not be generated, imported or queried."""


class GridValidationError(GridError):
    """An imported grid breaks the rules; `violations` lists every one."""

    def __init__(self, violations: list[str]):
        self.violations = list(violations)
        head = f"{len(self.violations)} grid violation(s)"
        super().__init__(head + ":\n" + "\n".join(f"  - {v}" for v in self.violations))


class DeviceError(TwinError):
    """A device cannot be registered, changed or found."""


class DeviceNotFound(DeviceError):
    def __init__(self, device_id: str):
        self.device_id = device_id
        super().__init__(
            f"device {device_id} is not registered; register it with `gridtwin devices add`"
        )


class OutsideGrid(DeviceError):
    def __init__(self, device_id: str, lat: float, lon: float):
        self.device_id, self.lat, self.lon = device_id, lat, lon
        super().__init__(
            f"device {device_id} at lat {lat:.6f}, lon {lon:.6f} is outside every grid cell; "
            "check the coordinates (WGS84, lat before lon) or extend the grid"
        )


class StoreError(TwinError):
    """The twin store failed; the message says which operation."""
