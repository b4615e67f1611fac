"""Web app fixtures: a real SQLite store filled with a small grid, devices and readings, and the app
over httpx's ASGI transport with its lifespan running."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from playwright.sync_api import sync_playwright

from gridtwin.ports import free_port
from maps.app import create_app
from tests.maps.common import CHROMIUM_ARGS, T0, fill_store, small_grid
from twin.config import Settings
from twin.grid.cells import Grid
from twin.people.accounts import create_user, issue_token
from twin.store import open_store


@pytest.fixture(autouse=True)
def no_logged_errors(caplog):
    """Fail a test whose background work (feed, handlers) only logged an error."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(("maps", "uvicorn"))]
    assert not errors, "errors were logged: " + "; ".join(r.getMessage() for r in errors)


@pytest.fixture
def settings(tmp_path) -> Settings:
    # No broker listens on this port unless a test says otherwise; every test has its own topic prefix.
    return Settings().replace(
        mqtt={"port": free_port(), "prefix": f"t{uuid.uuid4().hex[:10]}/v1"},
        store={"url": f"sqlite:///{tmp_path}/t.db"},
    )


@pytest.fixture
def store(settings):
    store = open_store(settings.store.url)
    store.migrate()
    fill_store(store)
    yield store
    store.close()


@pytest.fixture
def grid() -> Grid:
    return small_grid()


@pytest.fixture
def admin_token(store) -> str:
    """A bearer token of an admin, the role that may register devices."""
    create_user(store, "test-admin", "admin", now=T0, actor="test")
    return issue_token(store, "test-admin", now=T0, actor="test")


@pytest.fixture
async def client(settings, store, grid, admin_token):
    app = create_app(settings, store=store, grid=grid)
    # ASGITransport does not run the lifespan; the app's live feed (polling, no broker) should run.
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gridtwin.test",
                                     headers={"Authorization": f"Bearer {admin_token}"}) as c:
            c.app = app
            yield c


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, one per test module."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()
