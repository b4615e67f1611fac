"""The pages' files and how a page loads them: our static files and Leaflet's (from xstatic-leaflet),
the pages' JavaScript as native ES modules with `modulepreload` links for their import graph, and that
graph inlined for the standalone map snapshot.

The modules live in maps/static/js/: lib/ is the layer every page imports (config, api, live, i18n,
dom, leaflet), ops/ the operations room pages, and map.js, technician.js, report.js the others. No
build step: the browser loads them as they are. Leaflet stays a classic script, loaded before the
modules (see maps/static/js/lib/leaflet.js for why).
"""

from __future__ import annotations

import base64
import functools
import html
import re
from pathlib import Path

from xstatic.pkg import leaflet as xleaflet

__all__ = ["LEAFLET_DIR", "LEAFLET_URL", "STATIC_DIR", "STATIC_URL", "inline_module", "leaflet_tags",
           "module_graph", "module_tags"]

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static/gridtwin"
LEAFLET_DIR = Path(xleaflet.BASE_DIR)
LEAFLET_URL = "/static/vendor/leaflet"
JS_DIR = STATIC_DIR / "js"

# `import ... from "./x.js"`, `import "./x.js"`, `export ... from "./x.js"`: our modules import only by
# relative path, on lines of their own at the top.
_IMPORT = re.compile(r"""^(?:import|export)(?:\s[^;'"]*?\bfrom)?\s*["'](?P<path>\.\.?/[^"']+)["'];?$""", re.MULTILINE)


def _imports(module: Path) -> list[Path]:
    return [(module.parent / m.group("path")).resolve() for m in _IMPORT.finditer(module.read_text("utf-8"))]


@functools.cache
def module_graph(entry: str) -> tuple[str, ...]:
    """The URLs of the module `entry` (a path under static/js, e.g. "ops/wall.js") and of every module it
    imports, directly or not, entry first.

    >>> module_graph("lib/live.js")
    ('/static/gridtwin/js/lib/live.js',)
    """
    seen: dict[Path, None] = {}
    todo = [(JS_DIR / entry).resolve()]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        if not module.is_file():
            raise FileNotFoundError(f"{module} is imported but does not exist")
        seen[module] = None
        todo.extend(_imports(module))
    root = STATIC_DIR.resolve()
    return tuple(f"{STATIC_URL}/{m.relative_to(root).as_posix()}" for m in seen)


def module_tags(entry: str) -> str:
    """The page's module script, with a preload link for each module of its graph, so the browser
    fetches them at once rather than one import level after another."""
    entry_url, *rest = module_graph(entry)
    preload = "".join(f'<link rel="modulepreload" href="{html.escape(url)}">\n' for url in rest)
    return f'{preload}<script type="module" src="{html.escape(entry_url)}"></script>'


def leaflet_tags() -> str:
    """Leaflet's style and classic script, which must come before the modules that use it."""
    return f'<link rel="stylesheet" href="{LEAFLET_URL}/leaflet.css">\n<script src="{LEAFLET_URL}/leaflet.js"></script>'


def inline_module(entry: str) -> str:
    """The module `entry` as a data: URL, each of its relative imports replaced by the data: URL of the
    imported module (inlined the same way), for a page that must work without a server. A module
    imported twice gets the same URL, so it is still one module instance, and a test can import the
    entry by its URL to read its exports."""
    return _data_url((JS_DIR / entry).resolve())


@functools.cache
def _data_url(module: Path) -> str:
    def inlined(match: re.Match) -> str:
        return match.group(0).replace(match.group("path"), _data_url((module.parent / match.group("path")).resolve()))

    source = _IMPORT.sub(inlined, module.read_text("utf-8"))
    return "data:text/javascript;base64," + base64.b64encode(source.encode("utf-8")).decode("ascii")
