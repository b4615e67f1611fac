"""Errors raised by the twin domain and its stores.

    TwinError
    ├── ConfigError           configuration file or environment is invalid
    ├── GridError             grid generation, import or lookup failed
    │   └── GridValidationError   an imported grid breaks the rules (lists every violation)
    ├── DeviceError           a device cannot be registered or found
    │   ├── DeviceNotFound
    │   └── OutsideGrid       the device's location is in no cell
    ├── StoreError            the store failed (connection, migration, query)
    │   └── StoreUnavailable      it cannot take the request now (down, unreachable, locked, disk full)
    ├── CaseError             a case cannot be created, found or moved
    │   ├── CaseNotFound
    │   ├── IllegalTransition     the action is not allowed in the case's status (lists the allowed ones)
    │   ├── InvalidTransition     the action's fields are missing or wrong (lists every problem)
    │   └── StaleCase             the case changed between reading and writing it
    ├── AccessDenied          the user's role (or assignment) does not allow the action
    └── AuditChainBroken      a row of the audit log does not match its hash
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



class StoreUnavailable(StoreError):
    """The store cannot take the request right now (server down or unreachable, connection lost,
    database locked, disk full); the same request may succeed later."""

class CaseError(TwinError):
    """A case cannot be created, found or moved through its workflow."""


class CaseNotFound(CaseError):
    def __init__(self, case_id: str):
        self.case_id = case_id
        super().__init__(f"case {case_id} does not exist; GET /api/cases lists the cases")


class IllegalTransition(CaseError):
    """`action` is not allowed in `status`; `allowed` lists what is."""

    def __init__(self, case_id: str, status: str, action: str, allowed: list[str]):
        self.case_id, self.status, self.action, self.allowed = case_id, status, action, list(allowed)
        can = ", ".join(self.allowed) if self.allowed else "nothing (the case is finished)"
        super().__init__(f"case {case_id} is {status}: {action} is not allowed; allowed now: {can}")


class InvalidTransition(CaseError):
    """The action's fields are missing or wrong; `problems` lists each as {field, message}."""

    def __init__(self, problems: list[dict]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{p['field']}: {p['message']}" if p.get("field") else p["message"]
                                   for p in self.problems))


class StaleCase(CaseError):
    """The case was changed by someone else between reading and writing it."""

    def __init__(self, case_id: str, version: int):
        self.case_id, self.version = case_id, version
        super().__init__(f"case {case_id} changed while version {version} was being updated; read it again")


class AccessDenied(TwinError):
    """The user may not do this: the message names the role or assignment needed."""


class AuditChainBroken(TwinError):
    """The audit log does not verify; `seq` is the first row that fails."""

    def __init__(self, seq: int, reason: str):
        self.seq, self.reason = seq, reason
        super().__init__(f"audit log broken at row {seq}: {reason}")
