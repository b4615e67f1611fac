"""Device-health alerts (category `device_health`): a device that misbehaves, as opposed to a
cell where something happens. Each alert is opened once and cleared once, with the same id.

    device_offline         the broker published the device's last will
    device_silent          no reading for `offline_intervals` reporting intervals
    battery_low            battery at or below `battery_low`
    clock_skew             timestamps off the stream's clock by more than `clock_skew_s`
    duplicate_messages     the same reading again, `transport_count` times within the window
    out_of_order_messages  readings older than one already received, as often
    sensor_stuck           (flatline) the same value reading after reading
    sensor_spikes          (spike) single readings far off that are back to normal at the next
    sensor_drift           (drift) creeping away from its own baseline while its peers do not
    sensor_disagrees       (spatial) past a threshold while the same cell's sensors read normal
    sensor_out_of_range    (range) values outside the metric's valid range, refused, again and again

`HealthAlerts` keeps the open ones, whoever raised them. `DeviceMonitor` watches the first six
from the messages themselves; sensorfaults.py raises the sensor_* alerts, which need the values.
"""

from __future__ import annotations

from collections import deque

from gateway.detectors.explain import clock, num, span
from gateway.detectors.state import GAPS, DeviceState
from twin.ids import new_id
from twin.sensing.anomalies import DEVICE_HEALTH, Anomaly
from twin.sensing.catalog import Level
from twin.sensing.detection import DetectionSettings

SILENCE_SCAN_S = 30.0


class HealthAlerts:
    """The open device-health alerts, keyed by (device, type, metric)."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str, str | None], tuple[str, float, str, str, str]] = {}
        self.of_device: dict[str, set[str]] = {}  # device -> types open (any metric): most have none

    def is_open(self, device_id: str, type_: str, metric: str | None = None) -> bool:
        types = self.of_device.get(device_id)
        return types is not None and type_ in types and (device_id, type_, metric) in self.open

    def raise_(self, *, device_id: str, type_: str, detector: str, cell: str | None, ts: float, explanation: str,
               details: dict, metric: str | None = None, value: float | None = None, threshold: float | None = None,
               lat: float | None = None, lon: float | None = None) -> Anomaly | None:
        """Open an alert unless it is open already (or the device has no cell to put it in)."""
        key = (device_id, type_, metric)
        if cell is None or key in self.open:
            return None
        anomaly_id = new_id()
        self.open[key] = (anomaly_id, ts, detector, cell, explanation)
        self.of_device.setdefault(device_id, set()).add(type_)
        return Anomaly(id=anomaly_id, type=type_, status="opened", severity=Level.WARNING, cell_code=cell,
                       device_id=device_id, detector=detector, ts=ts, explanation=explanation, metric=metric,
                       value=value, threshold=threshold, lat=lat, lon=lon,
                       details={"detectors": [detector], **details}, category=DEVICE_HEALTH)

    def clear(self, device_id: str, type_: str, ts: float, explanation: str, metric: str | None = None,
              details: dict | None = None, value: float | None = None) -> Anomaly | None:
        opened = self.open.pop((device_id, type_, metric), None)
        if opened is None:
            return None
        if not any(k[0] == device_id and k[1] == type_ for k in self._keys_of(device_id)):
            self.of_device[device_id].discard(type_)
        anomaly_id, since, detector, cell, _ = opened
        return Anomaly(id=anomaly_id, type=type_, status="cleared", severity=Level.WARNING, cell_code=cell,
                       device_id=device_id, detector=detector, ts=max(ts, since), explanation=explanation,
                       metric=metric, value=value, details={"detectors": [detector], "open_s": max(0.0, ts - since),
                                                            **(details or {})},
                       category=DEVICE_HEALTH)


    def _keys_of(self, device_id: str):
        types = self.of_device.get(device_id, ())
        return [k for k in self.open if k[0] == device_id and k[1] in types]


class DeviceMonitor:
    """Connection, reporting interval, battery, clock and transport of every device."""

    def __init__(self, settings: DetectionSettings, alerts: HealthAlerts):
        self.s = settings
        self.alerts = alerts
        self._scanned = float("-inf")

    # -- per message item --------------------------------------------------------------------------
    def observe(self, dev: DeviceState, ts: float, seq: int | None, battery: float | None, received_at: float,
                now: float, out: list) -> bool:
        """Book one reading; False when it is a duplicate or older than one already read."""
        s = self.s
        fresh = True
        # Counted in the stream's time: a device whose clock is off must not age its own record.
        newer = ts > dev.last_ts and (seq is None or dev.max_seq is None or seq > dev.max_seq)
        if newer:
            pass  # the usual case: neither a repeat nor late
        elif any(seen == (seq, ts) for seen in dev.seen):
            if not dev.duplicates:
                dev.duplicates = deque(maxlen=64)
            dev.duplicates.append(now)
            fresh = False
            self._transport(dev, "duplicate_messages", dev.duplicates, now, out)
        elif ts < dev.last_ts or (seq is not None and dev.max_seq is not None and seq < dev.max_seq):
            if not dev.out_of_order:
                dev.out_of_order = deque(maxlen=64)
            dev.out_of_order.append(now)
            fresh = False
            self._transport(dev, "out_of_order_messages", dev.out_of_order, now, out)
        dev.seen.append((seq, ts))
        if seq is not None and (dev.max_seq is None or seq > dev.max_seq):
            dev.max_seq = seq
        if fresh:
            if dev.last_ts > float("-inf"):
                gap = ts - dev.last_ts
                if gap > 0:
                    gaps = dev.gaps
                    gaps.append(gap)
                    if len(gaps) > GAPS:
                        del gaps[0]
                    dev.gap_count += 1
                    # The median gap, recomputed now and then: intervals rarely change.
                    if len(gaps) >= s.interval_samples and (dev.interval is None or dev.gap_count % 8 == 0):
                        dev.interval = sorted(gaps)[len(gaps) // 2]
            dev.last_ts = ts
            self._heard(dev, ts, max(now, ts), out)
        if battery is not None:
            self._battery(dev, battery, ts, out)
        # The clock is judged once per message, by its newest reading: a buffered upload after an
        # outage is old on purpose, the last reading of it is not.
        if dev.message_key != received_at:
            self.finish_message(dev, out)
            dev.message_key, dev.message_newest, dev.message_now = received_at, ts, now
        elif ts > dev.message_newest:
            dev.message_newest = ts
        return fresh

    def _heard(self, dev: DeviceState, ts: float, heard_at: float, out: list) -> None:
        if self.alerts.of_device.get(dev.id):
            for type_ in ("device_silent", "device_offline"):
                if self.alerts.is_open(dev.id, type_):
                    out.append(self.alerts.clear(dev.id, type_, ts, f"{dev.id} reports again (reading at "
                                                 f"{clock(ts, self.s.utc_offset_h)})"))
        if dev.interval is not None:
            # Silence is judged by when the stream heard the device, not by its own clock.
            dev.silent_deadline = heard_at + max(self.s.offline_min_s, self.s.offline_intervals * dev.interval)

    def _battery(self, dev: DeviceState, battery: float, ts: float, out: list) -> None:
        dev.battery = battery
        low = self.s.battery_low
        if battery <= low:
            found = self.alerts.raise_(
                device_id=dev.id, type_="battery_low", detector="battery", cell=dev.cell, ts=ts,
                explanation=f"{dev.id} reports its battery at {battery:.0%}, at or below {low:.0%}: replace or "
                            "recharge it before it goes silent",
                details={"figures": {"battery": battery, "battery_low": low}}, value=battery, threshold=low,
                lat=dev.lat, lon=dev.lon)
            if found:
                out.append(found)
        elif battery >= low + 0.05 and self.alerts.is_open(dev.id, "battery_low"):
            out.append(self.alerts.clear(dev.id, "battery_low", ts, f"{dev.id} battery back at {battery:.0%}",
                                         value=battery))

    def _transport(self, dev: DeviceState, type_: str, times, ts: float, out: list) -> None:
        s = self.s
        recent = [t for t in times if ts - t <= s.transport_window_s]
        if len(recent) < s.transport_count:
            return
        what = "the same reading again" if type_ == "duplicate_messages" else "readings older than one already received"
        found = self.alerts.raise_(
            device_id=dev.id, type_=type_, detector="transport", cell=dev.cell, ts=ts,
            explanation=f"{dev.id} sent {what} {len(recent)} times within {span(s.transport_window_s)}: check its "
                        "firmware's retry logic or its link",
            details={"figures": {"count": len(recent), "window_s": s.transport_window_s,
                                 "limit": s.transport_count}},
            value=float(len(recent)), threshold=float(s.transport_count), lat=dev.lat, lon=dev.lon)
        if found:
            out.append(found)

    # -- per message -------------------------------------------------------------------------------
    def finish_message(self, dev: DeviceState, out: list) -> None:
        """Judge the clock of the message read last (its newest reading against the stream's time)."""
        if dev.message_key is None:
            return
        offset = dev.message_newest - dev.message_now
        dev.message_key = None
        self._clock(dev, offset, dev.message_now, out)

    def time_rejected(self, dev: DeviceState, ts: float, now: float, out: list) -> None:
        """A reading refused as from the future or too old counts as a message with a wrong clock."""
        self._clock(dev, ts - now, now, out)

    def _clock(self, dev: DeviceState, offset: float, ts: float, out: list) -> None:
        s = self.s
        if abs(offset) > s.clock_skew_s:
            dev.skew_run += 1
            dev.ok_run = 0
            if dev.skew_run >= s.clock_skew_messages:
                ahead = "ahead of" if offset > 0 else "behind"
                found = self.alerts.raise_(
                    device_id=dev.id, type_="clock_skew", detector="clock", cell=dev.cell, ts=ts,
                    explanation=f"{dev.id}'s clock is {span(abs(offset))} {ahead} the stream's in {dev.skew_run} "
                                f"messages in a row (more than {span(s.clock_skew_s)}): its readings are "
                                "misplaced in time or refused; check its time sync (NTP)",
                    details={"figures": {"offset_s": round(offset, 1), "limit_s": s.clock_skew_s,
                                         "messages": dev.skew_run}},
                    value=round(offset, 1), threshold=s.clock_skew_s, lat=dev.lat, lon=dev.lon)
                if found:
                    out.append(found)
        else:
            dev.ok_run += 1
            dev.skew_run = 0
            if dev.ok_run >= s.clock_skew_messages and self.alerts.is_open(dev.id, "clock_skew"):
                out.append(self.alerts.clear(dev.id, "clock_skew", ts, f"{dev.id}'s clock agrees with the stream "
                                             f"again (off by {num(offset)} s)", value=round(offset, 1)))

    # -- connection ----------------------------------------------------------------------------
    def status(self, dev: DeviceState, online: bool, now: float, out: list) -> None:
        dev.online = online
        if online:
            cleared = self.alerts.clear(dev.id, "device_offline", now, f"{dev.id} is connected again")
            if cleared:
                out.append(cleared)
            return
        last = "never reported" if dev.last_ts == float("-inf") else \
            f"last reading at {clock(dev.last_ts, self.s.utc_offset_h)}"
        found = self.alerts.raise_(
            device_id=dev.id, type_="device_offline", detector="offline", cell=dev.cell, ts=now,
            explanation=f"{dev.id} lost its connection: the broker published its last will ({last}); check its "
                        "power and network",
            details={"figures": {"last_reading_ts": None if dev.last_ts == float("-inf") else dev.last_ts,
                                 "battery": dev.battery}}, lat=dev.lat, lon=dev.lon)
        if found:
            out.append(found)

    def silent(self, devices: dict[str, DeviceState], now: float, out: list) -> None:
        """Devices whose next reading is overdue by `offline_intervals` reporting intervals; looked
        for every `SILENCE_SCAN_S` of stream time."""
        if now - self._scanned < SILENCE_SCAN_S:
            return
        self._scanned = now
        for dev in devices.values():
            deadline = dev.silent_deadline
            if deadline is None or deadline > now:
                continue
            dev.silent_deadline = None
            if self.alerts.is_open(dev.id, "device_offline"):
                continue  # its last will said so already
            limit = max(self.s.offline_min_s, self.s.offline_intervals * (dev.interval or 0))
            found = self.alerts.raise_(
                device_id=dev.id, type_="device_silent", detector="offline", cell=dev.cell, ts=deadline,
                explanation=f"{dev.id} has sent nothing for {span(limit)} (it reports every "
                            f"{span(dev.interval or 0)}; last reading stamped {clock(dev.last_ts, self.s.utc_offset_h)})"
                            " although it is still connected: its sensor or firmware may hang",
                details={"figures": {"last_reading_ts": dev.last_ts, "interval_s": dev.interval,
                                     "silent_after_s": limit}},
                value=limit, threshold=limit,
                lat=dev.lat, lon=dev.lon)
            if found:
                out.append(found)

    def expire(self, devices: dict[str, DeviceState], now: float, out: list) -> None:
        """Transport alerts clear once a whole window passed without another such message."""
        window = self.s.transport_window_s
        for (device_id, type_, _metric) in [k for k in self.alerts.open
                                            if k[1] in ("duplicate_messages", "out_of_order_messages")]:
            dev = devices.get(device_id)
            if dev is None:
                continue
            times = dev.duplicates if type_ == "duplicate_messages" else dev.out_of_order
            if times and now - times[-1] > window:
                cleared = self.alerts.clear(device_id, type_, now, f"no more such messages from {device_id} for "
                                            f"{span(window)}")
                if cleared:
                    out.append(cleared)
