"""Security headers on every response of the web app, and the Content-Security-Policy the pages live by.

Scripts run only from the app itself (plus, for the folium map page, its own inline scripts by
hash); images only from the app, `data:` URLs (Leaflet's and the pages' icons) and the operator's
tile server (`web.tiles`); the pages may be framed by no one. Styles allow inline `style`
attributes, which Leaflet and the pages' markup use; nothing can inject markup to use them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from twin.config import Settings

__all__ = ["SecurityHeaders", "content_security_policy", "inline_script_hashes", "security_headers", "tile_source"]

_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE)


def tile_source(tiles: str) -> str | None:
    """The CSP source that lets the pages load basemap tiles from `web.tiles`; None for none or our own.

    >>> tile_source("https://{s}.tile.example.org/{z}/{x}/{y}.png")
    'https://*.tile.example.org'
    >>> tile_source("/tiles/{z}/{x}/{y}.png") is None, tile_source("none") is None
    (True, True)
    """
    if not tiles or tiles.lower() == "none" or tiles.startswith("/"):
        return None
    parts = urlsplit(tiles)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    # A placeholder in the host ({s}, {switch:a,b}) stands for subdomains.
    host = ".".join("*" if "{" in label else label for label in parts.netloc.split("."))
    return f"{parts.scheme}://{host}"


def inline_script_hashes(page: str) -> tuple[str, ...]:
    """CSP hash sources of a page's inline scripts (not of JSON data blocks, which never run)."""
    hashes = []
    for match in _INLINE_SCRIPT.finditer(page):
        attrs = match.group("attrs").lower()
        if "src=" in attrs or "application/json" in attrs:
            continue
        digest = hashlib.sha256(match.group("body").encode("utf-8")).digest()
        hashes.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    return tuple(dict.fromkeys(hashes))


def content_security_policy(settings: Settings, script_hashes: tuple[str, ...] = ()) -> str:
    tiles = tile_source(settings.web.tiles)
    images = " ".join(filter(None, ("'self'", "data:", tiles)))
    scripts = " ".join(("'self'", *script_hashes))
    return "; ".join((
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers every answer carries (the map page replaces the policy with its own)."""
    headers = {
        "content-security-policy": content_security_policy(settings),
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        # The report page asks for the phone's location; nothing asks for anything else.
        "permissions-policy": "geolocation=(self), camera=(), microphone=(), payment=(), usb=()",
        "cross-origin-opener-policy": "same-origin",
    }
    if settings.auth.cookie_secure:  # served over HTTPS (directly or behind a proxy): browsers should stay there
        headers["strict-transport-security"] = "max-age=31536000"
    return headers


class SecurityHeaders:
    """Pure ASGI: adds the security headers to every HTTP response that does not set its own. (Starlette
    answers an unhandled error outside every middleware: that handler adds them itself.)"""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in security_headers(settings).items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, sending)
