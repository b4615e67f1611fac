"""Writes the operations room screenshots for the docs: docs/images/wall.png (1920x1080),
console.png (1440x900), worker.png (390x844 at 2x) and kpi.png, from a plausible day on the demo
grid (tests/maps/ops_scene.py), in English, at Kaifeng's time of day.

    python -m tests.maps.ops_screenshots [DIRECTORY]

Chinese place names need a CJK font on the machine (Debian: fonts-wqy-microhei or fonts-noto-cjk);
the pages load no web fonts.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from gridtwin.ports import free_port
from maps.app import create_app
from tests.maps.common import CHROMIUM_ARGS, on_page, serving, wait_on_page
from tests.maps.ops_helpers import log_in
from tests.maps.ops_scene import DISPATCHER, WORKERS, build
from twin.cases.workflow import CaseQuery, Status
from twin.config import Settings
from twin.people.access import Principal
from twin.people.users import Role

TIMEZONE = "Asia/Shanghai"


def live_changes(book, grid) -> None:
    """A few changes while the wall watches, so that its ticker shows the case loop at work."""
    cases, _ = book.find(CaseQuery(limit=500))
    by_status = {}
    for case in cases:
        by_status.setdefault(case.status, []).append(case)
    reported = by_status.get(Status.REPORTED, [])
    if reported:
        book.act(reported[0].id, "file", DISPATCHER)
        book.act(reported[0].id, "dispatch", DISPATCHER, assignee=WORKERS[0])
    for case in by_status.get(Status.HANDLED, [])[:1]:
        book.act(case.id, "close", DISPATCHER, note="Checked by camera.")
    for case in by_status.get(Status.DISPATCHED, [])[:1]:
        book.act(case.id, "accept", Principal(case.assignee, Role.GRID_WORKER))
    book.report(DISPATCHER, type_="waterlogging", severity="critical", cell=grid.cells[len(grid) // 2 + 7].code,
                title="Standing water at the underpass")


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "docs/images")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ops.db"
        store, grid, _ = build(url)
        settings = Settings().replace(mqtt={"port": free_port()}, store={"url": url},
                                      web={"title": "GridTwin · Kaifeng"})
        app = create_app(settings, store=store, grid=grid, poll_interval=0.3)
        with serving(app) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

            def context(width, height, **options):
                return browser.new_context(bypass_csp=True, viewport={"width": width, "height": height}, locale="en-GB",
                                           timezone_id=TIMEZONE, **options)

            wall = context(1920, 1080).new_page()
            wall.goto(base + "/wall")
            wait_on_page(wall, "wall", "wall.ready && wall.history && wall.status === 'live'",
                                   timeout=20_000)
            wall.evaluate(on_page("wall", "wall.focusSeconds = 1"))
            live_changes(app.state.ctx.book, grid)
            wait_on_page(wall, "wall", "wall.caseEvents >= 5", timeout=10_000)
            wait_on_page(wall, "wall", "!wall.focused", timeout=10_000)
            wall.wait_for_timeout(1500)  # the fly back and the KPI refresh
            wall.screenshot(path=str(target / "wall.png"))

            console = context(1440, 900).new_page()
            console.goto(base + "/console")
            log_in(console, "dana")
            console.wait_for_selector("#case-rows tr[data-id]")
            handled = console.evaluate(on_page("console", "desk.cases.find(c => c.status === 'handled').id"))
            console.click(f"#case-rows tr[data-id='{handled}']")
            console.wait_for_selector(f".c-detail[data-id='{handled}']")
            console.click("#c-actions button[data-action='close']")
            console.fill("#a-note", "Checked on the street camera: cleared.")
            console.wait_for_timeout(800)  # the small map's cells
            console.screenshot(path=str(target / "console.png"))

            phone = context(390, 844, device_scale_factor=2, is_mobile=True, has_touch=True).new_page()
            phone.goto(base + "/worker")
            log_in(phone, WORKERS[0])
            phone.wait_for_selector(".job")
            phone.wait_for_timeout(300)
            phone.screenshot(path=str(target / "worker.png"))

            figures = context(1440, 900).new_page()
            figures.goto(base + "/kpi#level=street&period=7d")
            wait_on_page(figures, "kpi", "board.trend", timeout=10_000)
            figures.wait_for_timeout(300)
            figures.screenshot(path=str(target / "kpi.png"))
            browser.close()
        store.close()
    for name in ("wall", "console", "worker", "kpi"):
        print(target / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
