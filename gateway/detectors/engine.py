"""The detection engine: every reading, camera event and status of a batch goes through it, and
it decides what is an incident, what is a misbehaving device, and what is nothing. It keeps the
devices and routes each message to the parts that judge it:

    measures.py      a reading's level, context (robust z against baselines and peers), rate
    phases.py        the phase machine: deviation, confirmation, corroboration, escalation, clearing
    sensorfaults.py  sensor health from the values: stuck, drift, spikes, disagreement, out of range
    devicefaults.py  device health from the messages: offline, silent, battery, clock, transport
    camera.py        camera detections, corroborated by the sensors nearby and corroborating them

For each reading of a device's metric (a track): measure it (and learn the baseline from it),
let the phase machine judge it, check the sensor's health, remember it. Every anomaly says which detectors
agreed (`details.detectors`), with their figures and the devices consulted, in `explanation`
and in `details`. Decisions depend on payload timestamps and the stream's clock (`now` of each
batch), never on how fast messages arrive.
"""

from __future__ import annotations

from gateway.detectors.camera import CameraEvents
from gateway.detectors.devicefaults import DeviceMonitor, HealthAlerts
from gateway.detectors.measures import Measures
from gateway.detectors.phases import OPEN, PhaseMachine
from gateway.detectors.sensorfaults import SensorFaults
from gateway.detectors.spatial import SpatialIndex
from gateway.detectors.state import HISTORY, DeviceState
from twin.grid import Grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import MetricCatalog
from twin.sensing.detection import DetectionSettings

PRUNE_S = 60.0  # stream seconds between sweeps of expired alerts and evidence


class DetectionEngine:
    """Stateful; fed by the pipeline in arrival order. Methods append anomalies to `out`."""

    def __init__(self, settings: DetectionSettings, catalog: MetricCatalog, grid: Grid):
        self.s = settings
        self.devices: dict[str, DeviceState] = {}
        self.alerts = HealthAlerts()
        self.monitor = DeviceMonitor(settings, self.alerts)
        self.space = SpatialIndex(grid)
        self.measures = Measures(settings)
        self.faults = SensorFaults(settings, catalog, self.alerts, self.space)
        self.phases = PhaseMachine(settings, self.space, self.measures, self.faults)
        self.cameras = CameraEvents(settings, self.space, self.phases)
        self.now = float("-inf")
        self._touched: set[DeviceState] = set()
        self._metrics = catalog.metrics
        self._pruned = float("-inf")

    def device(self, device_id: str, cell: str | None = None, lat: float | None = None,
               lon: float | None = None) -> DeviceState:
        dev = self.devices.get(device_id)
        if dev is None:
            dev = self.devices[device_id] = DeviceState(device_id)
        if cell is not None:
            dev.cell = cell
            if lat is not None:
                dev.lat, dev.lon = lat, lon
        return dev

    # -- device messages -----------------------------------------------------------------------------
    def observe(self, device_id: str, cell: str | None, lat: float | None, lon: float | None, ts: float,
                seq: int | None, battery: float | None, received_at: float, now: float, out: list[Anomaly]) -> None:
        """One reading item of a message, before its values: interval, sequence, clock, battery."""
        dev = self.device(device_id, cell, lat, lon)
        self.monitor.observe(dev, ts, seq, battery, received_at, now, out)
        self._touched.add(dev)

    def time_rejected(self, device_id: str, cell: str | None, ts: float, now: float, out: list[Anomaly]) -> None:
        """A reading refused as future or stale: a device clock that is off."""
        self.monitor.time_rejected(self.device(device_id, cell), ts, now, out)

    def status(self, device_id: str, cell: str | None, online: bool, now: float, out: list[Anomaly]) -> None:
        """The retained status: `offline` is the last will the broker published."""
        self.monitor.status(self.device(device_id, cell), online, now, out)

    def out_of_range(self, device_id: str, cell: str | None, name: str, value: float, now: float,
                     out: list[Anomaly]) -> None:
        """A value refused as outside the metric's valid range: once is a glitch, often is a sensor fault."""
        self.faults.out_of_range(self.device(device_id, cell), name, value, now, out)

    # -- readings ------------------------------------------------------------------------------------
    def reading(self, device_id: str, name: str, value: float, ts: float, cell: str, lat: float | None,
                lon: float | None, out: list[Anomaly]) -> None:
        """One value of one metric, in time order per device and metric."""
        dev = self.devices.get(device_id)
        if dev is None:
            dev = self.device(device_id, cell, lat, lon)
        tr = dev.tracks.get(name)
        if tr is None:
            metric = self._metrics.get(name)
            if metric is None:
                return
            tr = self.measures.track(dev, metric)
        if ts <= tr.last_ts:
            return  # a duplicate or a late reading: counted by the monitor, judged no further
        if dev.out_of_range:
            self.faults.in_range(dev, tr, value, ts, out)
        if tr.cell != cell:
            self.space.place(tr, cell)
        tr.lat, tr.lon = lat, lon
        prev_ts = tr.last_ts
        level, own_z, sudden = self.measures.take(tr, value, ts)
        deviating = self.phases.step(tr, dev, value, level, own_z, sudden, ts, self.now, out)
        if not tr.boolean:
            # The sensor's health; a fault found keeps a pending deviation from becoming an incident.
            s, faults = self.s, self.faults
            if (tr.run >= s.flatline_readings or (tr.run == 1 and tr.stuck)) and faults.flatline(tr, value, ts, out):
                self.phases.suppress(tr)
            if own_z is not None and tr.phase is not OPEN and ts >= tr.cooldown_until:
                drift = faults.drift(tr, value, own_z, ts, prev_ts, out)
                if drift == "opened":
                    self.phases.suppress(tr)
                elif drift == "cleared":
                    self.phases.release(tr)
        # Remembered last: the rules above compare a reading with the ones before it.
        history = tr.history
        history.append((ts, value, deviating, own_z))
        if len(history) > HISTORY:
            del history[0]

    # -- cameras -------------------------------------------------------------------------------------
    def camera(self, camera_id: str, event_id: str, type_: str, state: str, confidence: float, ts: float,
               cell: str, lat: float | None, lon: float | None, out: list[Anomaly]) -> None:
        """A camera detection's start or end."""
        self.cameras.event(camera_id, event_id, type_, state, confidence, ts, cell, lat, lon, out)

    # -- time ----------------------------------------------------------------------------------------
    def tick(self, now: float, out: list[Anomaly]) -> None:
        """Decisions that wait for time to pass: unconfirmed deviations whose device said nothing
        more, silent devices, expired alerts. Call after each batch and now and then."""
        s = self.s
        now = self.now = max(now, self.now)
        for dev in self._touched:
            self.monitor.finish_message(dev, out)
        self._touched.clear()
        due = now - s.settle_s
        self.phases.settle(due, self.devices, out)
        self.monitor.silent(self.devices, due, out)
        if now - self._pruned >= PRUNE_S:
            self._pruned = now
            self.monitor.expire(self.devices, due, out)
            self.faults.expire_spikes(self.devices, due, out)
            self.space.prune(due, s.corroboration_window_s)
