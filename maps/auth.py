"""Who is asking the web app: a person with a session cookie, an integrator with a bearer token,
or nobody (the anonymous role: the map wall's viewer by default). Logging in and out is
maps/login.py.

`AuthMiddleware` puts the request's Principal in `request.state.principal`, and authorizes
and audits the writes whose handlers do not do it themselves (registering a device needs
the admin role, and lands in the audit log as `device.register`). A bearer
token that is wrong or revoked is refused (401) rather than treated as anonymous, so an
integrator learns at once; a session cookie that ended just falls back to anonymous.
With `auth.anonymous = "none"`, every /api/ request but login and the OpenAPI
document needs credentials; the map page's HTML, /healthz and /metrics stay open.

Cross-site request forgery: every write (POST, PUT, PATCH, DELETE) from a browser must be
same-origin (`Sec-Fetch-Site`, else `Origin`, when the browser sends them), and a write with a
session cookie must also carry the session's CSRF token in `X-CSRF-Token`: login sets it in the
`gridtwin_csrf` cookie (readable by the pages' scripts, SameSite=Strict) and returns it as
`csrf_token`; `GET /api/me` returns it too. Bearer-token clients need none of this: no other
site can make a browser send their `Authorization` header. Writes with a session cookie must
also send JSON (`Content-Type: application/json`), which a cross-site form cannot.

Logins are rate limited per account and per client address (maps/ratelimit.py): 429 with
`Retry-After`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from maps.errors import (
    Forbidden,
    Unauthorized,
    Unprocessable,
    UnsupportedMedia,
)
from maps.ratelimit import LoginLimiter
from twin.config import AuthSettings
from twin.errors import StoreError
from twin.people import accounts
from twin.people.access import ANONYMOUS_NAME, PERMISSIONS, Principal, can, describe
from twin.people.audit import AuditEntry
from twin.people.users import Role

log = logging.getLogger(__name__)

__all__ = ["COOKIE", "CSRF_COOKIE", "Auth", "AuthMiddleware", "principal_of", "read_json"]

COOKIE = "gridtwin_session"
CSRF_COOKIE = "gridtwin_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/api/login", "/api/openapi.json"})
# Writes whose handlers do not authorize themselves (the case routes do, per case).
WRITE_PERMISSIONS = {("POST", "/api/devices"): "device.register"}


class Auth:
    """Credentials against the store; the cookie signer; the anonymous principal."""

    def __init__(self, settings: AuthSettings, store, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.clock = clock
        if settings.secret is None:
            log.info("auth.secret is not set: session cookies are signed with a key of this process, "
                     "so logins end when it restarts")
        self._key = (settings.secret or secrets.token_urlsafe(32)).encode("utf-8")
        role = None if settings.anonymous == "none" else Role(settings.anonymous)
        self.anonymous = Principal(ANONYMOUS_NAME, role, "anonymous")
        self.limiter = LoginLimiter(settings, clock)

    # -- cookies --------------------------------------------------------------------
    def _signature(self, value: str) -> str:
        mac = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def sign(self, session: str) -> str:
        return f"{session}.{self._signature(session)}"

    def unsign(self, cookie: str) -> str | None:
        """The session id of a cookie this process (or one sharing auth.secret) signed, else None."""
        session, _, signature = cookie.rpartition(".")
        if not session or not _equal(signature, self._signature(session)):
            return None
        return session

    def csrf_token(self, session: str) -> str:
        """The session's CSRF token: derived from it, so nothing more is stored, and useless without it."""
        return self._signature(f"csrf:{session}")

    def session_of(self, cookies: Mapping[str, str]) -> str | None:
        cookie = cookies.get(COOKIE)
        return self.unsign(cookie) if cookie else None

    # -- who is asking ------------------------------------------------------------------
    async def principal(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Principal | None:
        """The request's principal; None when its bearer token is not valid."""
        authorization = headers.get("authorization", "")
        now = self.clock()
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            user = await run_in_threadpool(accounts.user_for_token, self.store, token.strip(), now)
            return None if user is None else Principal(user.name, user.role, "token")
        cookie = cookies.get(COOKIE)
        session = self.unsign(cookie) if cookie else None
        if session is not None:
            user = await run_in_threadpool(accounts.user_for_session, self.store, session, now)
            if user is not None:
                return Principal(user.name, user.role, "session")
        return self.anonymous

    def cookie_header(self, value: str, max_age: int) -> str:
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={max_age}"]
        if self.settings.cookie_secure:
            parts.append("Secure")
        return "; ".join(parts)

    def csrf_cookie_header(self, token: str, max_age: int) -> str:
        # Not HttpOnly: the pages' scripts read it to send it back in X-CSRF-Token.
        parts = [f"{CSRF_COOKIE}={token}", "Path=/", "SameSite=Strict", f"Max-Age={max_age}"]
        if self.settings.cookie_secure:
            parts.append("Secure")
        return "; ".join(parts)

    def forgery(self, request: Request, principal: Principal) -> str | None:
        """Why a write looks forged (a message), or None. Only for unsafe methods."""
        headers = request.headers
        if principal.via == "token":
            return None  # no other site can make a browser send an Authorization header
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"a {site} request may not write here; the browser said Sec-Fetch-Site: {site}"
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, headers.get("host", "")):
            return f"a request from {origin} may not write here (the Origin is not this server's)"
        if principal.via == "session" and request.url.path != "/api/login":
            session = self.session_of(request.cookies)
            token = headers.get(CSRF_HEADER, "")
            if session is None or not token or not _equal(token, self.csrf_token(session)):
                return (f"a write with a session cookie needs the session's CSRF token in the X-CSRF-Token header "
                        f"(the {CSRF_COOKIE} cookie, or csrf_token from POST /api/login or GET /api/me)")
        return None


def _equal(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes what a client sent in any characters."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _same_origin(origin: str, host: str) -> bool:
    """Whether an Origin header names the host the request was sent to (scheme aside: a proxy may end TLS)."""
    if origin == "null" or "://" not in origin:
        return False
    netloc = origin.split("://", 1)[1].rstrip("/").lower()
    return _without_default_port(netloc) == _without_default_port(host.lower())


def _without_default_port(netloc: str) -> str:
    for port in (":80", ":443"):
        if netloc.endswith(port):
            return netloc[: -len(port)]
    return netloc


class AuthMiddleware:
    """Pure ASGI: resolve the principal of every HTTP request before the app sees it."""

    def __init__(self, app, auth: Auth):
        self.app = app
        self.auth = auth

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if not path.startswith("/api/"):  # the page, its assets, /healthz, /metrics: no one to ask for
            scope.setdefault("state", {})["principal"] = self.auth.anonymous
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await self.auth.principal(request.headers, request.cookies)
        except StoreError as exc:
            log.error("checking the credentials of %s %s failed: %s", scope["method"], path, exc)
            body = {"error": "the store does not answer, so credentials cannot be checked; /healthz says more",
                    "detail": None}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        if principal is None:
            await _refuse("the bearer token is not valid (unknown, revoked, or its user is disabled); "
                          "get a new one with `gridtwin users token NAME`", scope, receive, send)
            return
        if principal.role is None and path not in OPEN_PATHS:
            await _refuse("this server requires a login: POST /api/login with your name and password, "
                          "or send a bearer token", scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            forged = self.auth.forgery(request, principal)
            if forged is not None:
                log.warning("refused %s %s as a possible cross-site request forgery: %s", scope["method"], path, forged)
                await JSONResponse({"error": forged, "detail": {"reason": "csrf"}}, status_code=403)(scope, receive, send)
                return
        permission = WRITE_PERMISSIONS.get((scope["method"], path))
        if permission is not None and not can(principal, permission):
            message = (f"{principal.name} ({principal.role}) may not {describe(permission)}: that needs the role "
                       f"{' or '.join(sorted(PERMISSIONS[permission]))}")
            if principal.authenticated:
                await JSONResponse(Forbidden(message).body(), status_code=403)(scope, receive, send)
            else:
                await _refuse(message + "; log in or send a bearer token", scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        if permission is None:
            await self.app(scope, receive, send)
            return
        answered: dict = {}

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                answered["location"] = dict(message.get("headers", [])).get(b"location", b"").decode("latin-1")
            await send(message)

        await self.app(scope, receive, sending)
        if 200 <= answered.get("status", 500) < 300:
            subject = permission.split(".", 1)[0]
            entry = AuditEntry(at=self.auth.clock(), actor=principal.name, action=permission, subject=subject,
                               subject_id=answered["location"].rsplit("/", 1)[-1] or path)
            await run_in_threadpool(self.auth.store.append_audit, [entry])


async def _refuse(message: str, scope, receive, send) -> None:
    body = Unauthorized(message).body()
    response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="gridtwin"'})
    await response(scope, receive, send)


def principal_of(request: Request) -> Principal:
    return request.state.principal


async def read_json(request: Request) -> object:
    """The JSON body of a write; refuses a non-JSON body sent with a session cookie (415)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if principal_of(request).via == "session" and content_type != "application/json":
        raise UnsupportedMedia("send the body as JSON with Content-Type: application/json",
                               {"content_type": content_type or None})
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"the body is not valid JSON: {exc}", [{"field": None, "message": str(exc)}]) from None
