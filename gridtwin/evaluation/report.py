"""The human-readable report of `gridtwin evaluate`: tables per incident type and per detector,
how the injected device faults were classified, and the acceptance figures; and the anomalies of
a run as lines to compare with another run's."""

from __future__ import annotations

import json
from collections.abc import Iterable

from twin.sensing.anomalies import Anomaly


def anomaly_lines(anomalies: Iterable[Anomaly]) -> list[str]:
    """Every anomaly as a JSON object, in time order. Ids are random, so `anomaly` numbers them
    instead, in the order they first appear (an anomaly opened and cleared has one number): two
    runs of a scenario give lines that compare one by one."""
    ordered = sorted(anomalies, key=lambda a: (a.ts, a.device_id, a.metric or "", a.type, a.status, a.cell_code))
    numbers: dict[str, int] = {}
    for a in ordered:
        numbers.setdefault(a.id, len(numbers) + 1)
    return [json.dumps({"anomaly": numbers[a.id], "ts": a.ts, "status": a.status, "category": a.category,
                        "type": a.type, "severity": a.severity.label, "device_id": a.device_id, "metric": a.metric,
                        "cell_code": a.cell_code, "detector": a.detector, "value": a.value, "threshold": a.threshold,
                        "explanation": a.explanation, "details": a.details}, ensure_ascii=False, default=str)
            for a in ordered]


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _s(value) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _row(name: str, b: dict) -> str:
    d = b["delay"]
    return (f"  {name:<18} {b['incidents']:>4} {b['detected']:>5} {b['anomalies']:>6} {b['false_alarms']:>5}  "
            f"{_pct(b['precision']):>5} {_pct(b['recall']):>5} {_pct(b['f1']):>5}  {_s(d['median_s']):>8} "
            f"{_s(d['p95_s']):>8}  {b['false_alarms_per_device_day'] or 0:.4f}")


HEADER = (f"  {'':<18} {'inc':>4} {'found':>5} {'alerts':>6} {'false':>5}  {'prec':>5} {'rec':>5} {'F1':>5}  "
          f"{'delay p50':>8} {'delay p95':>8}  false/device-day")


def render(result: dict) -> str:
    s = result["scenario"]
    score = result["score"]
    lines = [
        (f"scenario {s['name']}: {s['devices']} devices on {s['cells']} cells, {s['hours']:.1f} h scored "
         f"after {s['warmup_hours']:.1f} h of warm-up; {result['run']['messages']} messages, "
         f"{result['run']['readings']} readings in {result['run']['wall_s']:.0f} s "
         f"({result['run']['speedup']:.0f}x real time)"),
        (f"matching: same or neighbouring cell, open from {score['matching']['early_s']:.0f} s before the start "
         f"to {score['matching']['grace_s']:.0f} s after the end"),
        "",
        "per incident type",
        HEADER,
    ]
    for name, block in score["per_incident_type"].items():
        lines.append(_row(name, block))
    lines.append(_row("all incidents", score["overall"]))
    lines += ["", "per detector (anomalies in which the detector agreed)", HEADER]
    for name, block in score["per_detector"].items():
        lines.append(_row(name, block))
    f = score["faults"]
    lines += ["", (f"device faults: {f['total']} injected; {f['health_alert']} became device-health alerts, "
                   f"{f['incident']} became incident anomalies, {f['missed']} went unnoticed; "
                   f"{f['health_alerts_on_healthy_devices']} health alerts on devices without a fault")]
    for d in score["fault_details"]:
        lines.append(f"  {d['id']:<16} {d['kind']:<13} {d['device_id']:<10} {d['classified_as']:<13} "
                     f"{', '.join(d['health_alerts']) or '-'}")
    if score["incidents"]["unobservable"]:
        lines.append(f"unobservable incidents (no device there could notice them; not in recall): "
                     f"{', '.join(score['incidents']['unobservable'])}")
    if score["missed_incidents"]:
        lines.append("missed: " + ", ".join(f"{m['id']} ({m['type']})" for m in score["missed_incidents"]))
    if score["false_alarms"]:
        lines.append("false alarms:")
        for fa in score["false_alarms"][:10]:
            lines.append(f"  {fa['type']} at {fa['device_id']} ({fa['detector']}): {fa['explanation'][:140]}")
    cases = result.get("cases") or {}
    if cases:
        lines.append(f"cases: {cases['total']} opened, {cases['from_health_alerts']} from device-health alerts")
    acc = result["acceptance"]
    lines += ["", "acceptance: " + "; ".join(
        f"{name} {_pct(c['value'])} (>= {c['target']}) {'ok' if c['ok'] else 'NOT MET'}"
        for name, c in acc.items() if isinstance(c, dict)) + f" -> {'met' if acc['ok'] else 'NOT MET'}"]
    return "\n".join(lines)
