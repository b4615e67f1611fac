"""Fixtures shared by every test: real brokers and databases started per test session."""

from __future__ import annotations

import pytest

from gridtwin.localbroker import MosquittoBroker

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.tls"]


@pytest.fixture(scope="session")
def mosquitto():
    """A real Mosquitto on a free port, anonymous access, persistence on; shared by the session."""
    with MosquittoBroker() as broker:
        yield broker


@pytest.fixture
def fresh_mosquitto(tmp_path):
    """A Mosquitto of this test's own, for tests that restart or reconfigure it."""
    with MosquittoBroker(workdir=tmp_path / "mosquitto") as broker:
        yield broker
