"""Security headers on every response of the web app, and the Content-Security-Policy the pages live by.

Scripts run only from the app itself (plus, for the folium map page, its own inline scripts by
hash); images only from the app, `data:` URLs (Leaflet's and the pages' icons) and the origins of
the configured tile layers, named one by one, one per subdomain (`[basemap]`, twin/basemap.py);
the pages may be framed by no one. Styles allow inline `style`
attributes, which Leaflet and the pages' markup use; nothing can inject markup to use them.
"""

from __future__ import annotations

import base64
import hashlib
import re

from twin.config import Settings

__all__ = ["SecurityHeaders", "content_security_policy", "inline_script_hashes", "security_headers", "tile_sources"]

_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE)


def tile_sources(settings: Settings) -> tuple[str, ...]:
    """The CSP sources that let the pages load basemap tiles: the origin of every configured tile layer,
    for each of its subdomains; none for tiles served by the app itself.

    >>> tile_sources(Settings().replace(web={"tiles": "https://{s}.tile.example.org/{z}/{x}/{y}.png"}))
    ('https://a.tile.example.org', 'https://b.tile.example.org', 'https://c.tile.example.org')
    >>> tile_sources(Settings().replace(web={"tiles": "/tiles/{z}/{x}/{y}.png"})), tile_sources(Settings())
    ((), ())
    """
    return tuple(dict.fromkeys(source for layer in settings.tile_layers() for source in layer.sources()))


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
    images = " ".join(("'self'", "data:", *tile_sources(settings)))
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
