"""Twin stores: `open_store(url)` picks the backend from the URL scheme; `open_twin(settings)`
opens, migrates and returns the store with its grid, the one way every process opens it.

    sqlite:///path/to/file.db   embedded default (no server)
    sqlite:///:memory:          throwaway, one process
    postgresql://user@host/db   PostgreSQL + PostGIS (TimescaleDB when installed)
"""

from __future__ import annotations

import logging

from twin.errors import StoreError
from twin.grid.cells import Grid
from twin.grid.source import configured_grid
from twin.store.base import TwinStore
from twin.store.codec import redact
from twin.store.sqlite import SqliteStore

__all__ = ["TwinStore", "open_store", "open_twin", "redact"]

log = logging.getLogger(__name__)


def open_store(url: str) -> TwinStore:
    """Open (but do not migrate) the store at `url`."""
    if url.startswith("sqlite://"):
        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from twin.store.postgres import PostgresStore  # psycopg is loaded only for a PostgreSQL store

        return PostgresStore(url)
    raise StoreError(f"store URL {redact(url)!r} is not supported: use sqlite:///path or postgresql://...")


def open_twin(settings, store_url: str | None = None) -> tuple[TwinStore, Grid]:
    """Open and migrate the store (`store_url`, else `settings.store.url`) and return (store, grid).

    A store that holds no grid yet gets the configured one (`twin.grid.source.configured_grid`)
    written into it first. The caller closes the store.
    """
    url = store_url or settings.store.url
    store = open_store(url)
    try:
        store.migrate()
        grid = store.load_grid()
        if grid is None:
            grid = configured_grid(settings)
            store.put_grid(grid)
            log.info("store %s had no grid; stored the configured grid (%s, %d cells)", redact(url),
                     settings.grid.source, len(grid))
    except BaseException:
        store.close()
        raise
    return store, grid
