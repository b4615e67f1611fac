"""Device simulator: sensors and AI cameras with realistic behaviour, incidents, and one MQTT
connection per device.

    grid = demo_grid()
    devices = make_fleet(grid, sensors=2000, cameras=100, seed=1)
    incidents = random_incidents(grid, devices, 5, start=time.time(), seed=1)
    async with Simulator(settings.mqtt, devices, grid=grid, incidents=incidents) as sim:
        await sim.run(duration=60)

Errors: see firmware_sim.errors for the tree (SimError at its root).
"""

from firmware_sim.behaviour import SensorModel, Weather
from firmware_sim.cameras import CameraModel
from firmware_sim.clock import AcceleratedClock, Clock, ManualClock, RealClock, format_ts
from firmware_sim.errors import (
    ConnectError,
    ConnectRefused,
    FleetError,
    MqttError,
    NotConnected,
    ProtocolError,
    SimError,
)
from firmware_sim.fleet import SENSOR_TYPES, SensorType, make_fleet, random_points
from firmware_sim.incidents import CAMERA_EVENT_TYPES, INCIDENT_TYPES, Incident, IncidentType, random_incidents
from firmware_sim.mqtt import MqttClient, Will
from firmware_sim.simulator import SimStats, Simulator

__all__ = [
    "AcceleratedClock",
    "CAMERA_EVENT_TYPES",
    "CameraModel",
    "Clock",
    "ConnectError",
    "ConnectRefused",
    "FleetError",
    "INCIDENT_TYPES",
    "Incident",
    "IncidentType",
    "ManualClock",
    "MqttClient",
    "MqttError",
    "NotConnected",
    "ProtocolError",
    "RealClock",
    "SENSOR_TYPES",
    "SensorModel",
    "SensorType",
    "SimError",
    "SimStats",
    "Simulator",
    "Weather",
    "Will",
    "format_ts",
    "make_fleet",
    "random_incidents",
    "random_points",
]
