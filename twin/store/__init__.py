"""Twin stores: `open_store(url)` picks the backend from the URL scheme.

    sqlite:///path/to/file.db   embedded default (no server)
    sqlite:///:memory:          throwaway, one process
    postgresql://user@host/db   PostgreSQL + PostGIS (TimescaleDB when installed)
"""

from __future__ import annotations

from twin.errors import StoreError
from twin.store._codec import redact
from twin.store.base import TwinStore

__all__ = ["TwinStore", "open_store", "redact"]


def open_store(url: str) -> TwinStore:
    """Open (but do not migrate) the store at `url`."""
    if url.startswith("sqlite://"):
        from twin.store.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from twin.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(f"store URL {redact(url)!r} is not supported: use sqlite:///path or postgresql://...")
