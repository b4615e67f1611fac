"""Schema migrations of the store backends: an ordered list per backend, each applied once
and recorded in the `schema_migrations` table.

A migration is a name (sortable: `0001_initial`) and its SQL statements, either fixed or
computed from a context the backend passes in (PostgreSQL: whether TimescaleDB is there).
Applied migrations are never edited; a change to the schema is a new migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["Migration", "pending"]


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    steps: Sequence[str] | Callable[[Any], Sequence[str]]

    def statements(self, context: Any = None) -> list[str]:
        return list(self.steps(context) if callable(self.steps) else self.steps)


def pending(migrations: Sequence[Migration], applied: set[str]) -> list[Migration]:
    """The migrations not yet applied, in order; refuses a list that is not strictly sorted."""
    names = [m.name for m in migrations]
    if names != sorted(set(names)):
        raise ValueError(f"migrations must have unique names in ascending order: {names}")
    return [m for m in migrations if m.name not in applied]
