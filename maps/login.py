"""Logging in and out of the web app, and who is asking.

    POST /api/login   {"name", "password"} -> a session cookie (signed, HttpOnly, SameSite=Lax)
    POST /api/logout  ends the session
    GET  /api/me      who the request is from, and what they may do

Login sets the session cookie and the session's CSRF token (maps/auth.py says why); failed
logins are rate limited per account and per client address (maps/ratelimit.py).
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from maps import answers
from maps.auth import COOKIE, CSRF_COOKIE, principal_of, read_json
from maps.bodies import Login, decode
from maps.context import context
from maps.errors import TooManyRequests, Unauthorized
from maps.openapi import Answer, operation
from twin.people import accounts
from twin.people.access import PERMISSIONS, Principal, can
from twin.times import rfc3339

__all__ = ["ROUTES", "client_address"]

log = logging.getLogger(__name__)


def _me(principal: Principal, csrf_token: str | None = None) -> dict:
    return {
        "name": principal.name,
        "role": None if principal.role is None else str(principal.role),
        "authenticated": principal.authenticated,
        "via": principal.via,
        "permissions": sorted(p for p in PERMISSIONS if can(principal, p) or _assigned_only(principal, p)),
        "csrf_token": csrf_token,
    }


def _assigned_only(principal: Principal, permission: str) -> bool:
    # accept/handle are granted per case; the role having them is what a page needs to know.
    return permission in ("case.accept", "case.handle") and principal.role in PERMISSIONS[permission]


@operation("post", "Log in: a session cookie for the browser", body=Login, public=True,
           answers={200: Answer(answers.Session, "Logged in; Set-Cookie carries the session and its CSRF token"),
                    401: "Unauthorized", 429: "TooManyRequests"})
async def login(request: Request) -> Response:
    auth = context(request).auth
    given = decode(await read_json(request), Login, "login")
    name, address = given.name, client_address(request)
    refusal = auth.limiter.refusal(name, address)
    if refusal is not None:
        log.warning("login for %r from %s refused for %d s: too many failed logins for the %s",
                    name, address, refusal.retry_after, refusal.scope)
        raise TooManyRequests(refusal.message, refusal.retry_after,
                              {"retry_after": refusal.retry_after, "scope": refusal.scope})
    now = auth.clock()
    hours = auth.settings.session_hours
    found = await run_in_threadpool(accounts.login, auth.store, name, given.password, now=now, hours=hours)
    if found is None:
        auth.limiter.failed(name, address)
        raise Unauthorized("wrong user name or password")
    auth.limiter.succeeded(name, address)
    session, user = found
    principal = Principal(user.name, user.role, "session")
    max_age = int(hours * 3600)
    token = auth.csrf_token(session)
    response = JSONResponse({**_me(principal, token), "expires_at": rfc3339(now + hours * 3600)},
                            headers={"Cache-Control": "no-store"})
    response.headers.append("Set-Cookie", auth.cookie_header(auth.sign(session), max_age))
    response.headers.append("Set-Cookie", auth.csrf_cookie_header(token, max_age))
    return response


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy, uvicorn's --forwarded-allow-ips makes it the client's)."""
    return request.client.host if request.client else "unknown"


@operation("post", "Log out: end the session and clear its cookie", answers={200: Answer(answers.LoggedOut, "Done")})
async def logout(request: Request) -> Response:
    auth = context(request).auth
    principal = principal_of(request)
    ended = False
    cookie = request.cookies.get(COOKIE)
    session = auth.unsign(cookie) if cookie else None
    if session is not None and principal.via == "session":
        user = await run_in_threadpool(auth.store.get_user, principal.name)
        ended = await run_in_threadpool(accounts.logout, auth.store, session, user, now=auth.clock())
    response = JSONResponse({"logged_out": ended})
    response.headers.append("Set-Cookie", auth.cookie_header("", 0))
    response.headers.append("Set-Cookie", auth.csrf_cookie_header("", 0))
    return response


@operation("get", "Who the request is from and what they may do",
           answers={200: Answer(answers.Principal, "The principal")})
async def me(request: Request) -> Response:
    auth = context(request).auth
    principal = principal_of(request)
    session = auth.session_of(request.cookies) if principal.via == "session" else None
    token = None if session is None else auth.csrf_token(session)
    response = JSONResponse(_me(principal, token), headers={"Cache-Control": "no-store"})
    if token is not None and request.cookies.get(CSRF_COOKIE) != token:
        # A session from before the cookie existed, or a cleared cookie: the pages need it to write.
        response.headers.append("Set-Cookie", auth.csrf_cookie_header(token, int(auth.settings.session_hours * 3600)))
    return response


ROUTES = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
]
