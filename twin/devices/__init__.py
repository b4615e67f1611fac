"""Devices: sensors and cameras registered in the twin and placed on its grid, their MQTT
accounts (what each may publish and read on the broker), provisioning (credentials, claim codes,
configuration bundles) and their health (what the gateway last heard from each, and why one is
silent).
"""

from __future__ import annotations

from twin.devices.device import DEVICE_ID, Device, DeviceKind, DeviceStatus, check_device_id
from twin.devices.health import (
    CLOCK_SKEW_S,
    SILENT_AFTER_S,
    TIME_REASONS,
    DeviceVitals,
    Health,
    Vitals,
    diagnose,
    health_of,
)
from twin.devices.mqttaccounts import (
    ITERATIONS,
    AccountKind,
    MqttAccount,
    claim_username,
    issue_account,
    mosquitto_hash,
    new_claim_code,
    new_password,
    verify_mosquitto_hash,
)
from twin.devices.provisioning import (
    BUNDLE_FORMAT,
    ClaimRefused,
    bundle_qr_png,
    device_bundle,
    ensure_service_accounts,
    issue_claim_code,
    issue_device_credentials,
    issue_reporter_credentials,
    redeem_claim_code,
    revoke_device_credentials,
)
from twin.devices.registry import (
    CSV_COLUMNS,
    Refusal,
    RegistrationReport,
    RowError,
    read_devices_csv,
    register_devices,
    relocate_devices,
)

__all__ = ["DEVICE_ID", "Device", "DeviceKind", "DeviceStatus", "check_device_id", "CSV_COLUMNS", "Refusal",
           "RegistrationReport", "RowError", "read_devices_csv", "register_devices", "relocate_devices", "ITERATIONS",
           "AccountKind", "MqttAccount", "claim_username", "issue_account", "mosquitto_hash", "new_claim_code",
           "new_password", "verify_mosquitto_hash", "BUNDLE_FORMAT", "ClaimRefused", "bundle_qr_png", "device_bundle",
           "ensure_service_accounts", "issue_claim_code", "issue_device_credentials", "issue_reporter_credentials",
           "redeem_claim_code", "revoke_device_credentials", "CLOCK_SKEW_S", "SILENT_AFTER_S", "TIME_REASONS",
           "DeviceVitals", "Health", "Vitals", "diagnose", "health_of"]
