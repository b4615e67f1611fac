"""Shared by the operations room browser tests: a grid with two streets of two communities, users
with cheap password hashes, a clock to backdate cases, and logging in through a page."""

from __future__ import annotations

from playwright.sync_api import Page

from twin.grid.cells import Grid
from twin.grid.generate import generate_grid
from twin.people.accounts import create_user

PASSWORD = "correct horse battery"
FAST_COST = (2**12, 8, 1)  # a login in a few milliseconds; real users get the slow default


def two_street_grid() -> Grid:
    """12 cells of about 200 m in Gulou District: Street 01 and 02, each with communities -01 and -02 of
    three cells (codes 410204 001 001 001 ... 410204 002 002 003)."""
    return generate_grid((114.34, 34.79, 114.348, 34.794), 200, district_code="410204",
                         district_name="Gulou District", streets=(2, 1), communities=(2, 1))


def add_user(store, name: str, role: str, now: float) -> None:
    create_user(store, name, role, now=now, actor="test", password=PASSWORD, cost=FAST_COST)


def log_in(page: Page, name: str) -> None:
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")


class Clock:
    """A clock the test sets by hand (to put cases in the past)."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now
