"""A plausible day of the operations room on the demo grid, for the screenshots and for trying the
pages by hand: cell states, anomalies over the last 24 hours, and cases in every status, moved
through the loop by a dispatcher and grid workers at backdated times.

    python -m tests.maps.ops_scene sqlite:///ops.db     # then: gridtwin serve with that store
"""

from __future__ import annotations

import random
import sys
import time

from tests.maps.ops_helpers import Clock, add_user
from tests.maps.screenshot import fill as fill_states
from twin.cases.book import CaseBook
from twin.config import Settings
from twin.grid.cells import Grid
from twin.grid.demo import demo_grid
from twin.people.access import Principal
from twin.people.users import Role
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.store import open_store

DISPATCHER = Principal("dana", Role.DISPATCHER)
WORKERS = ("wang.fang", "li.na", "zhao.lei", "chen.jie", "liu.yang")

MANUAL_TYPES = ("pothole", "litter", "illegal_parking", "street_vendor", "broken_streetlight", "manhole_open")
SENSOR_TYPES = (("pm25_high", "pm25", 150.0, "PM2.5 {v:g} ug/m3 is above the {lvl} threshold {t:g}"),
                ("noise_db_high", "noise_db", 70.0, "Noise {v:g} dB(A) is above the {lvl} threshold {t:g}"),
                ("water_level_cm_high", "water_level_cm", 15.0, "Water level {v:g} cm is above the {lvl} threshold {t:g}"))


def add_users(store, now: float) -> None:
    """The dispatcher dana and the grid workers, all with tests.maps.ops_helpers.PASSWORD."""
    add_user(store, "dana", "dispatcher", now)
    for name in WORKERS:
        add_user(store, name, "grid_worker", now)


def fill_history(store, grid: Grid, now: float, rng: random.Random) -> None:
    """Anomalies opened and cleared over the last 24 hours: a morning and an evening peak."""
    cells = list(grid.cells)
    rows = []
    for n in range(140):
        hour = rng.choice([7.5, 8.5, 9, 12, 17.5, 18, 18.5, 19, 21, rng.uniform(0, 24)])
        opened = now - 86400 + hour * 3600 + rng.uniform(-1800, 1800)
        if opened >= now - 60:
            continue
        cell = rng.choice(cells)
        type_, metric, threshold, text = rng.choice(SENSOR_TYPES)
        level = Level.CRITICAL if rng.random() < 0.25 else Level.WARNING
        value = threshold * (2.0 if level is Level.CRITICAL else 1.2)
        explanation = text.format(v=value, lvl=level.label, t=threshold)
        rows.append(Anomaly(f"hist-{n:04d}", type_, "opened", level, cell.code, f"aq-h{n:04d}", "threshold", opened,
                            explanation, metric=metric, value=value, threshold=threshold))
        cleared = opened + rng.uniform(900, 3 * 3600)
        if cleared < now:
            rows.append(Anomaly(f"hist-{n:04d}", type_, "cleared", level, cell.code, f"aq-h{n:04d}", "threshold",
                                cleared, "back to normal", metric=metric, value=threshold * 0.8, threshold=threshold))
    store.write_anomalies(rows)


def fill_cases(store, grid: Grid, settings: Settings, now: float, rng: random.Random) -> CaseBook:
    """Cases of the day in every status, moved on a clock set by hand so that their times spread over
    the day; returns the case book (its clock left at `now`)."""
    clock = Clock(now - 86400 + 3600)
    book = CaseBook(store, grid, settings.cases, settings.responsibility, clock=clock)
    cells = list(grid.cells)
    plan = (["evaluated"] * 9 + ["closed"] * 5 + ["cancelled"] * 3 + ["handled"] * 3 + ["accepted"] * 4 +
            ["dispatched"] * 5 + ["filed"] * 2 + ["reported"] * 5)
    starts = sorted(rng.uniform(now - 22 * 3600, now - 600) for _ in plan)
    rng.shuffle(plan)
    for start, target in zip(starts, plan):
        clock.now = start
        cell = rng.choice(cells)
        severity = "critical" if rng.random() < 0.3 else "warning"
        case = book.report(Principal(rng.choice(WORKERS), Role.GRID_WORKER), type_=rng.choice(MANUAL_TYPES),
                           severity=severity, cell=cell.code, title="", description="")
        worker = rng.choice(WORKERS)
        late = rng.random() < 0.2

        def step(action: str, principal: Principal = DISPATCHER, minutes: float = 5.0, **fields) -> None:
            clock.now = min(clock.now + minutes * 60 * rng.uniform(0.5, 1.5), now - 1)
            book.act(case.id, action, principal, **fields)

        if target == "reported":
            continue
        if target == "cancelled":
            step("cancel", reason=rng.choice(("false_alarm", "duplicate", "out_of_scope")))
            continue
        step("file", minutes=3)
        if target == "filed":
            continue
        step("dispatch", minutes=4, assignee=worker)
        if target == "dispatched":
            continue
        me = Principal(worker, Role.GRID_WORKER)
        step("accept", me, minutes=25 if late else 6)
        if target == "accepted":
            continue
        step("handle", me, minutes=200 if late else 50, note="Cleared on site; the area is safe again.",
             photo_url="https://files.intranet/photos/" + case.id + ".jpg")
        if target == "handled":
            continue
        step("close", minutes=15, note="Checked by camera.")
        if target == "closed":
            continue
        step("evaluate", minutes=60, satisfaction=rng.choice((3, 4, 4, 5, 5, 5)))
    # Cases raised by detectors, decided by the dispatcher: most real, one a false alarm.
    for n, verdict in enumerate(["close", "close", "close", "dispatch", "dispatch", "file", "false_alarm", "duplicate"]):
        clock.now = now - rng.uniform(3 * 3600, 9 * 3600)
        cell = rng.choice(cells)
        type_, metric, threshold, text = SENSOR_TYPES[n % len(SENSOR_TYPES)]
        value = threshold * 1.3
        anomaly = Anomaly(f"scene-{n}", type_, "opened", Level.WARNING, cell.code, f"aq-s{n}", "threshold",
                          clock.now - 30, text.format(v=value, lvl="warning", t=threshold), metric=metric,
                          value=value, threshold=threshold)
        store.write_anomalies([anomaly])
        (case,) = book.take_anomalies([anomaly])
        clock.now += 240
        if verdict in ("false_alarm", "duplicate"):
            book.act(case.id, "cancel", DISPATCHER, reason=verdict)
            continue
        book.act(case.id, "file", DISPATCHER)
        if verdict == "file":
            continue
        worker = Principal(rng.choice(WORKERS), Role.GRID_WORKER)
        clock.now += 120
        book.act(case.id, "dispatch", DISPATCHER, assignee=worker.name)
        if verdict == "close":
            clock.now += 600
            book.act(case.id, "accept", worker)
            clock.now += 2400
            book.act(case.id, "handle", worker, note="Found the source and had it stopped.")
            clock.now += 600
            book.act(case.id, "close", DISPATCHER)
    clock.now = now
    return book


def build(url: str, now: float | None = None, seed: int = 7) -> tuple[object, Grid, CaseBook]:
    """A store at `url` holding the demo grid, its states, a day of anomalies and cases, and the users."""
    now = time.time() if now is None else now
    rng = random.Random(seed)
    settings = Settings()
    grid = demo_grid()
    store = open_store(url)
    store.migrate()
    store.put_grid(grid)
    fill_states(store, grid, now)
    fill_history(store, grid, now, rng)
    book = fill_cases(store, grid, settings, now, rng)
    add_users(store, now)
    return store, grid, book


if __name__ == "__main__":
    built = build(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///ops.db")[0]
    built.close()
