"""Who answers for a cell at each level: its grid worker, its street's township team, its
district's county desk.

Configuration (`[responsibility]`) wins over the grid's own attributes, which win
over a generated name, so an imported grid can carry its people and a deployment
can correct them without re-importing:

    [responsibility.workers]      # cell code -> grid worker (a user name, to act on cases)
    "410204001001001" = "wang.fang"
    [responsibility.teams]        # street/township code (9 digits) -> team
    "410204001" = "xiangguo-team"
    [responsibility.desks]        # district code (6 digits) -> county desk
    "410204" = "gulou-desk"

From the grid: `Cell.worker`, and the cell attributes `team` and `desk`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from twin.cases.workflow import Tier
from twin.errors import ConfigError
from twin.grid.cells import Cell

__all__ = ["Responsibility"]

_CODE_LENGTH = {"workers": 15, "teams": 9, "desks": 6}


@dataclass(frozen=True)
class Responsibility:
    """The `[responsibility]` section; ConfigError names a code or name that is wrong."""

    workers: Mapping[str, str] = field(default_factory=dict)  # cell code -> worker
    teams: Mapping[str, str] = field(default_factory=dict)  # street code -> team
    desks: Mapping[str, str] = field(default_factory=dict)  # district code -> desk

    def __post_init__(self) -> None:
        for name, length in _CODE_LENGTH.items():
            table = getattr(self, name)
            if not isinstance(table, Mapping):
                raise ConfigError(f"responsibility.{name} must be a table of code = name")
            for code, who in table.items():
                if not re.fullmatch(rf"\d{{{length}}}", str(code)):
                    raise ConfigError(f"responsibility.{name}: {code!r} is not a {length}-digit code")
                if not isinstance(who, str) or not who.strip():
                    raise ConfigError(f"responsibility.{name}.{code}: the name must be a non-empty string")

    def worker(self, cell: Cell) -> str | None:
        """The cell's grid worker, or None when neither configuration nor grid names one."""
        return self.workers.get(cell.code) or cell.worker or None

    def team(self, cell: Cell) -> str:
        return (self.teams.get(cell.street_code) or cell.attributes.get("team")
                or f"{cell.street_name or 'Township ' + cell.street_code} team")

    def desk(self, cell: Cell) -> str:
        return (self.desks.get(cell.district) or cell.attributes.get("desk")
                or f"{cell.district_name or 'County ' + cell.district} desk")

    def at(self, cell: Cell, tier: Tier, assignee: str | None = None) -> str | None:
        """Who answers for a case in `cell` at `tier`: the assignee (else the cell's worker) at the
        grid level, the township team or the county desk above it."""
        if tier is Tier.GRID:
            return assignee or self.worker(cell)
        return self.team(cell) if tier is Tier.TOWNSHIP else self.desk(cell)
