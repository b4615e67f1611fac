"""The web app's defences over HTTP: security headers on every response, CSRF protection of cookie
sessions (bearer clients unaffected), and login rate limits with 429 and Retry-After."""

from __future__ import annotations

import httpx
import pytest

from maps.app import create_app
from maps.headers import inline_script_hashes, tile_sources
from maps.ratelimit import LoginLimiter
from tests.maps.common import T0, A
from twin.basemap import basemap_from_config
from twin.config import AuthSettings, Settings
from twin.errors import ConfigError
from twin.people.accounts import create_user, issue_token

PASSWORD = "correct horse battery"
FAST = (2**10, 8, 1)


@pytest.fixture
def people(store) -> dict[str, str]:
    create_user(store, "dana", "dispatcher", now=T0, actor="test", password=PASSWORD, cost=FAST)
    create_user(store, "tom", "technician", now=T0, actor="test", password=PASSWORD, cost=FAST)
    return {"tom": issue_token(store, "tom", now=T0, actor="test")}


def web_client(app, address: str = "10.1.2.3", **options) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000), **options)
    return httpx.AsyncClient(transport=transport, base_url="http://gridtwin.test")


@pytest.fixture
async def web(settings, store, grid, people):
    app = create_app(settings, store=store, grid=grid)
    async with app.router.lifespan_context(app):
        async with web_client(app) as c:
            c.app = app
            yield c


# -- headers -------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path, status", [
    ("GET", "/", 200),  # the folium map page: its own policy, with its inline scripts' hashes
    ("GET", "/wall", 200),
    ("GET", "/technician", 200),
    ("GET", "/api/cells", 200),
    ("GET", "/static/gridtwin/js/map.js", 200),
    ("GET", "/static/vendor/leaflet/leaflet.js", 200),
    ("GET", "/healthz", 200),
    ("GET", "/metrics", 200),
    ("GET", "/api/nothing-here", 404),
    ("POST", "/api/devices", 401),  # a refusal by the authentication middleware
    ("POST", "/api/login", 422),
])
async def test_every_response_carries_the_security_headers(web, method, path, status):
    response = await web.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert "geolocation=(self)" in headers["permissions-policy"] and "camera=()" in headers["permissions-policy"]
    csp = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert csp["img-src"] == "'self' data:"  # no tile server configured
    assert csp["connect-src"] == "'self'"
    sources = csp["script-src"].split()
    assert sources[0] == "'self'" and all(s.startswith("'sha256-") for s in sources[1:])
    assert "unsafe-inline" not in csp["script-src"] and "unsafe-eval" not in csp["script-src"]
    assert "http" not in headers["content-security-policy"]  # no other origin anywhere
    assert "strict-transport-security" not in headers  # plain HTTP: no HSTS


async def test_an_unhandled_error_carries_them_too(settings, store, grid, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    app = create_app(settings, store=store, grid=grid)
    store.list_devices = broken  # an error no handler expects
    async with web_client(app, raise_app_exceptions=False) as c:  # Starlette re-raises after answering
        response = await c.get("/api/devices")
    assert response.status_code == 500 and "fire" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    caplog.clear()  # the error it logged is the one this test caused


async def test_the_map_page_allows_exactly_its_own_inline_scripts(web):
    response = await web.get("/")
    hashes = inline_script_hashes(response.text)
    assert len(hashes) >= 1  # folium's map set-up
    script_src = [p for p in response.headers["content-security-policy"].split(";") if "script-src" in p][0]
    assert script_src.split()[2:] == list(hashes)
    # Other pages have no inline script at all.
    wall = await web.get("/wall")
    assert inline_script_hashes(wall.text) == ()
    assert "sha256" not in wall.headers["content-security-policy"]


async def test_tiles_and_hsts_follow_the_settings(settings, store, grid):
    settings = settings.replace(web={"tiles": "https://{s}.tiles.city.example/{z}/{x}/{y}.png"},
                                auth={"cookie_secure": True})
    app = create_app(settings, store=store, grid=grid)
    async with web_client(app) as c:
        response = await c.get("/wall")
    hosts = " ".join(f"https://{s}.tiles.city.example" for s in "abc")  # each subdomain by name, no wildcard
    assert f"img-src 'self' data: {hosts};" in response.headers["content-security-policy"]
    assert response.headers["strict-transport-security"] == "max-age=31536000"


@pytest.mark.parametrize("basemap, sources", [
    ({}, ()),  # no basemap
    ({"tiles": [{"url": "/tiles/{z}/{x}/{y}.png"}]}, ()),  # served by this host: 'self'
    ({"tiles": [{"url": "https://tiles.example.org/{z}/{x}/{y}.png"}]}, ("https://tiles.example.org",)),
    ({"tiles": [{"url": "http://{s}.tile.example.org:8080/{z}/{x}/{y}.png", "subdomains": ["t1", "t2"]}]},
     ("http://t1.tile.example.org:8080", "http://t2.tile.example.org:8080")),
    ({"tiles": [{"url": "https://t{s}.tianditu.intranet/vec_w/wmts", "subdomains": "01", "layer": "vec",
                 "tile_matrix_set": "w"},  # a street map and its label layer from the same hosts: listed once
                {"url": "https://t{s}.tianditu.intranet/cva_w/wmts", "subdomains": "01", "layer": "cva",
                 "tile_matrix_set": "w"}]}, ("https://t0.tianditu.intranet", "https://t1.tianditu.intranet")),
])
def test_tile_sources(basemap, sources):
    assert tile_sources(Settings(basemap=basemap_from_config(basemap, {}))) == sources


def test_a_tile_template_that_is_no_url_is_refused():
    with pytest.raises(ConfigError, match=r"needs \{z\}"):
        Settings().replace(web={"tiles": "OpenStreetMap"})  # a folium name, not a URL: never a source


# -- CSRF ----------------------------------------------------------------------------------------
async def login(web, name="dana", **headers) -> httpx.Response:
    return await web.post("/api/login", json={"name": name, "password": PASSWORD}, headers=headers)


async def test_a_session_write_needs_the_sessions_csrf_token(web, store):
    response = await login(web)
    token = response.json()["csrf_token"]
    cookies = response.headers.get_list("set-cookie")
    csrf_cookie = [c for c in cookies if c.startswith("gridtwin_csrf=")][0]
    assert csrf_cookie.startswith(f"gridtwin_csrf={token};") and "SameSite=Strict" in csrf_cookie
    assert "HttpOnly" not in csrf_cookie  # the pages' scripts read it
    body = {"type": "litter", "cell": A}

    missing = await web.post("/api/cases", json=body)
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]
    assert missing.json()["detail"] == {"reason": "csrf"}
    wrong = await web.post("/api/cases", json=body, headers={"X-CSRF-Token": token[:-2] + "xx"})
    assert wrong.status_code == 403
    odd = await web.post("/api/cases", json=body, headers={"X-CSRF-Token": "t\u00e9st".encode("latin-1")})
    assert odd.status_code == 403  # any bytes get an answer, not a 500
    assert (await web.get("/api/cases")).json()["total"] == 0  # nothing was written

    right = await web.post("/api/cases", json=body, headers={"X-CSRF-Token": token})
    assert right.status_code == 201, right.text
    # /api/me hands the token to a page, and sets the cookie again when it is missing.
    web.cookies.delete("gridtwin_csrf")
    me = await web.get("/api/me")
    assert me.json()["csrf_token"] == token
    assert me.headers["set-cookie"].startswith(f"gridtwin_csrf={token};")
    # Another session has another token.
    other = (await login(web)).json()["csrf_token"]
    assert other != token
    assert (await web.post("/api/cases", json=body, headers={"X-CSRF-Token": token})).status_code == 403
    out = await web.post("/api/logout", json={}, headers={"X-CSRF-Token": other})
    assert out.json() == {"logged_out": True}
    assert any(c.startswith("gridtwin_csrf=;") and "Max-Age=0" in c for c in out.headers.get_list("set-cookie"))


@pytest.mark.parametrize("headers, says", [
    ({"Sec-Fetch-Site": "cross-site"}, "cross-site request"),
    ({"Sec-Fetch-Site": "same-site"}, "same-site request"),  # a sibling host is not this server
    ({"Origin": "http://evil.example"}, "http://evil.example"),
    ({"Origin": "null"}, "null"),  # sandboxed frames, data: pages
    ({"Origin": "http://gridtwin.test.evil.example"}, "evil.example"),
])
async def test_a_cross_site_write_is_refused_even_with_the_token(web, headers, says):
    token = (await login(web)).json()["csrf_token"]
    response = await web.post("/api/cases", json={"type": "litter", "cell": A},
                              headers={"X-CSRF-Token": token, **headers})
    assert response.status_code == 403 and says in response.json()["error"]
    # A login from another site is refused too (it would log the victim into the attacker's account).
    assert (await login(web, **headers)).status_code == 403


async def test_same_origin_browser_headers_pass(web):
    token = (await login(web, Origin="http://gridtwin.test", **{"Sec-Fetch-Site": "same-origin"})).json()["csrf_token"]
    response = await web.post("/api/cases", json={"type": "litter", "cell": A},
                              headers={"X-CSRF-Token": token, "Origin": "http://gridtwin.test",
                                       "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 201, response.text


async def test_bearer_clients_need_no_csrf_token(web, people):
    body = {"id": "aq-csrf", "kind": "sensor", "lat": 34.7915, "lon": 114.3415, "metrics": ["pm25"]}
    response = await web.post("/api/devices", json=body, headers={"Authorization": f"Bearer {people['tom']}",
                                                                  "Origin": "http://elsewhere.example"})
    assert response.status_code == 201, response.text


# -- login rate limits ----------------------------------------------------------------------------
async def test_too_many_failed_logins_answer_429_with_retry_after(settings, store, grid, people):
    settings = settings.replace(auth={"login_account_failures": 3, "login_address_failures": 5,
                                      "login_window_seconds": 600})
    app = create_app(settings, store=store, grid=grid)
    wrong = {"name": "dana", "password": "not the password"}
    async with web_client(app, "10.0.0.9") as attacker, web_client(app, "10.0.0.1") as user:
        assert (await user.post("/api/login", json={"name": "dana", "password": PASSWORD})).status_code == 200
        for _ in range(3):
            assert (await attacker.post("/api/login", json=wrong)).status_code == 401
        refused = await attacker.post("/api/login", json={"name": "dana", "password": PASSWORD})
        assert refused.status_code == 429  # even the right password: the account is locked here
        retry = int(refused.headers["retry-after"])
        assert 0 < retry <= 600  # until the first failure leaves the window
        assert refused.json()["detail"] == {"retry_after": retry, "scope": "account"}
        assert "too many failed logins for this account" in refused.json()["error"]
        # The real user, at the address they logged in from before, is not locked out.
        assert (await user.post("/api/login", json={"name": "dana", "password": PASSWORD})).status_code == 200
        # Other accounts are still open to the attacker's address until its own limit...
        assert (await attacker.post("/api/login", json={"name": "tom", "password": "x"})).status_code == 401
        assert (await attacker.post("/api/login", json={"name": "ann", "password": "x"})).status_code == 401
        # ...of 5 failures over all accounts: then every account is refused from there.
        refused = await attacker.post("/api/login", json={"name": "tom", "password": PASSWORD})
        assert refused.status_code == 429 and refused.json()["detail"]["scope"] == "address"
        assert "too many failed logins for this address" in refused.json()["error"]


def test_a_lock_ends_one_window_after_its_last_counted_failure():
    now = [1000.0]
    limiter = LoginLimiter(AuthSettings(login_account_failures=2, login_address_failures=100,
                                        login_window_seconds=60), clock=lambda: now[0])
    limiter.failed("dana", "a")
    now[0] += 30
    limiter.failed("Dana", "b")  # names are counted case-insensitively
    assert limiter.refusal("dana", "c").retry_after == 30  # until the first failure leaves the window
    now[0] += 29
    assert limiter.refusal("dana", "c") is not None
    now[0] += 1.5  # the attacker's refused tries did not extend it
    assert limiter.refusal("dana", "c") is None
    limiter.failed("dana", "c")
    assert limiter.refusal("dana", "c") is not None
    now[0] += 61
    assert limiter.refusal("dana", "c") is None


def test_a_success_forgets_the_accounts_failures_but_not_the_addresss():
    limiter = LoginLimiter(AuthSettings(login_account_failures=2, login_address_failures=3, login_window_seconds=60))
    limiter.failed("dana", "a")
    limiter.failed("dana", "a")
    limiter.succeeded("dana", "b")
    assert limiter.refusal("dana", "z") is None  # forgotten: the user got in
    limiter.failed("tom", "a")
    assert limiter.refusal("eve", "a").scope == "address"  # the address's three failures remain


@pytest.mark.parametrize("values, says", [
    ({"login_account_failures": 0}, "login_account_failures"),
    ({"login_address_failures": 1.5}, "login_address_failures"),
    ({"login_window_seconds": 0}, "login_window_seconds"),
])
def test_bad_limit_settings_are_refused(values, says):
    from twin.config import ConfigError
    with pytest.raises(ConfigError, match=says):
        AuthSettings(**values)


async def test_a_session_cookie_in_odd_characters_is_anonymous(web):
    response = await web.get("/api/me", headers={"Cookie": "gridtwin_session=s\u00e9ssion.sign\u00e4ture".encode("latin-1")})
    assert response.status_code == 200 and response.json()["name"] == "anonymous"
