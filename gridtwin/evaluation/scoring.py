"""Scoring detection against a scenario's ground truth (docs/detection.md, "How it is measured").

An opened incident anomaly *matches* an injected incident when
  - it points to that kind of incident: its metric is one the incident raises, or it is a camera
    detection of an event type the incident shows (firmware_sim.INCIDENT_TYPES);
  - its cell is one the incident reached, or a neighbour of one;
  - it was open at some time between `early_s` before the incident's start and `grace_s` after
    its end (it opened then, or it was still open from before: the cell was already flagged).
A matched anomaly is a true positive; an unmatched one is a false alarm. An incident is detected
when at least one anomaly matches it; its detection delay is the first match's time minus its
start. Incidents no device could notice are listed, and left out of recall.

Only anomalies that opened within the scenario's span count (not those of the warm-up).
An injected device fault is classified from the anomalies of the faulty device between `early_s`
before the fault's start and `grace_s` after its end: `health_alert` when there is a device-health alert and
no false incident anomaly, `incident` when there is a false incident anomaly, else `missed`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from firmware_sim.incidents import INCIDENT_TYPES
from twin.sensing.anomalies import Anomaly

DETECTORS = ("threshold", "rate_of_change", "baseline", "spatial", "camera")
EXPECTED_HEALTH = {
    "stuck": {"sensor_stuck", "sensor_out_of_range"},
    "spikes": {"sensor_spikes", "sensor_disagrees"},
    "drift": {"sensor_drift", "sensor_disagrees", "sensor_out_of_range"},
    "dropout": {"device_offline", "device_silent"},
    "battery": {"battery_low", "device_offline"},
    "clock_skew": {"clock_skew"},
    "duplicates": {"duplicate_messages"},
    "out_of_order": {"out_of_order_messages"},
}


def compatible(anomaly: Anomaly, incident_type: str) -> bool:
    kind = INCIDENT_TYPES[incident_type]
    if anomaly.metric is not None:
        return anomaly.metric in kind.metrics
    return anomaly.type in kind.camera_events


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation, or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None or p + r == 0:
        return None if p is None or r is None else 0.0
    return round(2 * p * r / (p + r), 4)


def _delays(values: list[float]) -> dict:
    return {"median_s": _round(statistics.median(values)) if values else None,
            "p95_s": _round(percentile(values, 95)), "n": len(values)}


def _round(value):
    return None if value is None else round(value, 1)


def score(world, anomalies: list[Anomaly], *, grace_s: float = 1800.0, early_s: float = 120.0) -> dict:
    """Figures for one played scenario; `anomalies` as stored (opened and cleared rows)."""
    scenario, grid = world.scenario, world.grid
    # Scored: what opened within the scenario's span (not during the warm-up, not after the end).
    opened = sorted((a for a in anomalies if a.status == "opened" and scenario.start - early_s <= a.ts <= scenario.end),
                    key=lambda a: (a.ts, a.id))
    incident_anomalies = [a for a in opened if a.is_incident]
    health = [a for a in opened if not a.is_incident]
    truth = world.truth
    near: dict[str, set[str]] = {}
    for t in truth:
        cells = set(t.cells)
        for code in t.cells:
            cells.update(grid.neighbours(code))
        near[t.id] = cells

    cleared = {a.id: a.ts for a in anomalies if a.status == "cleared"}
    matches: dict[str, list[str]] = {}
    for a in incident_anomalies:
        until = cleared.get(a.id, float("inf"))
        matches[a.id] = [t.id for t in truth if compatible(a, t.type) and a.cell_code in near[t.id]
                         and a.ts <= t.end + grace_s and until >= t.start - early_s]
    by_truth: dict[str, list[Anomaly]] = defaultdict(list)
    for a in incident_anomalies:
        for t_id in matches[a.id]:
            by_truth[t_id].append(a)
    observable = [t for t in truth if t.observable]
    device_days = len(world.devices) * scenario.duration_s / 86400.0

    def block(anoms: list[Anomaly], incidents: list, fp_filter=None) -> dict:
        tp = [a for a in anoms if matches[a.id]]
        fp = [a for a in anoms if not matches[a.id] and (fp_filter is None or fp_filter(a))]
        ids = {a.id for a in anoms}
        delays, detected = [], 0
        for t in incidents:
            hits = [a for a in by_truth.get(t.id, []) if a.id in ids]
            if hits:
                detected += 1
                delays.append(max(0.0, min(a.ts for a in hits) - t.start))
        precision = _ratio(len(tp), len(tp) + len(fp))
        recall = _ratio(detected, len(incidents))
        return {"anomalies": len(tp) + len(fp), "true_positives": len(tp), "false_alarms": len(fp),
                "incidents": len(incidents), "detected": detected, "precision": precision, "recall": recall,
                "f1": _f1(precision, recall), "delay": _delays(delays),
                "false_alarms_per_device_day": round(len(fp) / device_days, 4) if device_days else None}

    overall = block(incident_anomalies, observable)
    per_type = {}
    for type_ in sorted({t.type for t in truth}):
        of_type = [t for t in observable if t.type == type_]
        ids = {t.id for t in of_type}
        anoms = [a for a in incident_anomalies if set(matches[a.id]) & ids or
                 (not matches[a.id] and compatible(a, type_))]
        per_type[type_] = block(anoms, of_type)
        per_type[type_]["incidents_total"] = sum(1 for t in truth if t.type == type_)
    per_detector = {}
    for name in DETECTORS:
        anoms = [a for a in incident_anomalies if name in (a.details.get("detectors") or [a.detector])]
        if anoms:
            per_detector[name] = block(anoms, observable)

    faults = []
    for f in world.faults:
        window = [a for a in opened if a.device_id == f.device_id and f.start - early_s <= a.ts <= f.end + grace_s]
        alerts = sorted({a.type for a in window if not a.is_incident})
        false_incidents = [a for a in window if a.is_incident and not matches[a.id]]
        outcome = "incident" if false_incidents else "health_alert" if alerts else "missed"
        faults.append({"id": f.id, "kind": f.kind, "device_id": f.device_id, "metric": f.metric, "start": f.start,
                       "end": f.end, "classified_as": outcome, "health_alerts": alerts,
                       "as_expected": bool(set(alerts) & EXPECTED_HEALTH[f.kind]),
                       "false_incident_anomalies": len(false_incidents)})
    faulty = {f.device_id for f in world.faults}
    spurious_health = [a for a in health if a.device_id not in faulty]
    counts = defaultdict(int)
    for f in faults:
        counts[f["classified_as"]] += 1
    fault_summary = {"total": len(faults), "health_alert": counts["health_alert"], "incident": counts["incident"],
                     "missed": counts["missed"],
                     "health_alert_share": _ratio(counts["health_alert"], len(faults)),
                     "as_expected_share": _ratio(sum(f["as_expected"] for f in faults), len(faults)),
                     "health_alerts_on_healthy_devices": len(spurious_health),
                     "health_alerts_on_healthy_devices_per_device_day":
                         round(len(spurious_health) / device_days, 4) if device_days else None}
    return {
        "matching": {"grace_s": grace_s, "early_s": early_s, "cells": "same or neighbouring"},
        "devices": len(world.devices), "device_days": round(device_days, 2),
        "incidents": {"total": len(truth), "observable": len(observable),
                      "unobservable": [t.id for t in truth if not t.observable]},
        "overall": overall,
        "per_incident_type": per_type,
        "per_detector": per_detector,
        "faults": fault_summary,
        "fault_details": faults,
        "missed_incidents": [{"id": t.id, "type": t.type, "cells": list(t.cells), "start": t.start, "end": t.end}
                             for t in observable if not by_truth.get(t.id)],
        "false_alarms": [{"id": a.id, "type": a.type, "device_id": a.device_id, "cell": a.cell_code, "ts": a.ts,
                          "detector": a.detector, "explanation": a.explanation}
                         for a in incident_anomalies if not matches[a.id]][:50],
        "health_alerts": dict(sorted(_count(a.type for a in health).items())),
    }


def _count(items) -> dict:
    out: dict = defaultdict(int)
    for item in items:
        out[item] += 1
    return dict(out)


def acceptance(result: dict, *, precision: float = 0.9, recall: float = 0.95, faults: float = 0.9) -> dict:
    """The issue's acceptance figures, each with whether it holds."""
    o, f = result["overall"], result["faults"]
    checks = {
        "precision": (o["precision"], precision),
        "recall": (o["recall"], recall),
        "faults_as_health_alerts": (f["health_alert_share"], faults),
    }
    out = {name: {"value": value, "target": target, "ok": value is None or value >= target}
           for name, (value, target) in checks.items()}
    if o["precision"] is None:  # nothing raised at all: precision holds trivially, recall tells
        out["precision"]["ok"] = True
    out["ok"] = all(c["ok"] for c in out.values() if isinstance(c, dict))
    return out
