"""GridTwin maps: the folium/Leaflet map of the grid and the web app that serves it with the HTTP API
and live updates.

    create_app(settings, *, store=None, grid=None) -> Starlette   the web app
    render_map(grid, states, devices, settings) -> str             a standalone HTML snapshot
    render_page(grid, settings) -> str                             the app's live page
"""

from maps.app import create_app
from maps.errors import ApiError, BadRequest, Conflict, NotFound, Unprocessable
from maps.render import render_map, render_page

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "NotFound",
    "Unprocessable",
    "create_app",
    "render_map",
    "render_page",
]
