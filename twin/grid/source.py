"""The grid a deployment names in `[grid] source`: the demo grid, or a grid file to import."""

from __future__ import annotations

from twin.grid.cells import Grid
from twin.grid.demo import demo_grid
from twin.grid.files import import_grid

__all__ = ["configured_grid"]


def configured_grid(settings) -> Grid:
    """The grid named by `settings.grid.source`: "demo", or a grid file to import."""
    source = settings.grid.source
    return demo_grid() if source == "demo" else import_grid(source)
