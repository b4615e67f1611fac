"""The operations room pages as HTML, and their one catalog of words per language: both languages
have the same keys and placeholders, every key the pages use exists, and each request gets its
language from ?lang=, the cookie or Accept-Language."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import orjson
import pytest

from maps import i18n
from maps.pages import PAGES
from twin.cases.figures import CSV_COLUMNS, GROUPS
from twin.cases.workflow import CANCEL_REASONS, Action, Status, Tier
from twin.config import Settings
from twin.people.users import Role
from twin.sensing.catalog import Level

JS = i18n.CATALOG_DIR.parent / "js"
SCRIPTS = {path.relative_to(JS).as_posix(): path.read_text(encoding="utf-8") for path in sorted(JS.rglob("*.js"))}
# The common layer's modules, the charts and vendored libraries have no words of their own (lib/i18n.js
# holds the catalogue; the basemap's labels come with its data).
WORDLESS = {"ops/charts.js", "lib/api.js", "lib/basemap.js", "lib/config.js", "lib/dom.js", "lib/leaflet.js",
            "lib/live.js", "vendor/gcoord/gcoord.esm-browser.prod.js"}
EN, ZH = i18n.catalog("en"), i18n.catalog("zh")
CAMERA_TYPES = ("fire", "smoke", "crowding", "illegal_parking", "street_vendor", "waterlogging")


def test_both_languages_have_the_same_keys_and_placeholders():
    assert set(EN) == set(ZH), {"only in en": sorted(set(EN) - set(ZH)), "only in zh": sorted(set(ZH) - set(EN))}
    different = {k: (EN[k], ZH[k]) for k in EN if i18n.placeholders(EN[k]) != i18n.placeholders(ZH[k])}
    assert not different
    assert not [k for k in EN if not EN[k].strip() or not ZH[k].strip()]


def test_chinese_is_chinese():
    # Keys whose text is the same in both languages on purpose: metric names, dashes, format patterns.
    same = {k for k in EN if EN[k] == ZH[k]}
    assert same <= {"common.none", "metric.pm25", "metric.pm10", "wall.ticker.case.change", "wall.ticker.value"}, same
    assert ZH["lang.other"] == "English" and EN["lang.other"] == "中文"


def _literal_keys(source: str) -> set[str]:
    """Catalog keys a script names literally: t("key"), and keys picked in a conditional inside t(...)."""
    keys = set(re.findall(r'\bt\(\s*"([a-z0-9_.]+)"\s*[,)]', source))
    keys |= set(re.findall(r'[?:]\s*"((?:wall|console|worker|kpi|form|error|common|map|tech|report)\.[a-z0-9_.]+)"'
                           r'(?=\s*[,):}])', source))
    return keys


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_key_a_script_names_is_in_the_catalog(name):
    keys = _literal_keys(SCRIPTS[name])
    assert keys or name in WORDLESS
    assert not sorted(keys - set(EN))


def test_every_value_a_page_looks_up_by_family_has_words():
    families = {
        "status": [s.value for s in Status],
        "action": [a.value for a in Action],
        "severity": ["warning", "critical"],
        "level": [level.label for level in Level],
        "tier": [t.value for t in Tier],
        "reason": list(CANCEL_REASONS),
        "role": [r.value for r in Role],
        "metric": Settings().metrics.names(),
        "type": CAMERA_TYPES,
        "kpi.level": list(GROUPS),
        "kpi.col": [c for c in CSV_COLUMNS if c not in ("code", "cancelled", "resolved", "evaluated",
                                                        "warnings_decided", "false_alarms")],
        "nav": list(PAGES),
        "tech.fact": ["cell", "last_seen", "battery", "signal", "messages", "clock_skew", "dead_letters", "credentials"],
        "live": ["connecting", "live", "reconnecting", "offline"],
        "form.title": ["file", "cancel", "dispatch", "reassign", "accept", "handle", "close", "reopen", "evaluate"],
        "field": ["note", "reason", "assignee", "photo_url", "satisfaction", "type", "severity", "cell", "title",
                  "description"],
    }
    missing = [f"{family}.{value}" for family, values in families.items() for value in values
               if f"{family}.{value}" not in EN]
    assert not missing
    assert all(f"{page}.title" in EN for page in PAGES)


@pytest.mark.parametrize("header, expected", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),  # a Chinese browser
    ("zh-TW", "zh"),  # any Chinese locale
    ("en-US,en;q=0.9", "en"),
    ("en;q=0.5,zh;q=0.8", "zh"),  # by quality, not by order
    ("fr-FR,de;q=0.8", "en"),  # neither: English
    ("", "en"),
])
def test_language_from_accept_language(header, expected):
    assert i18n.choose(None, None, header) == expected


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.lang = None
        self.config = None
        self._in_config = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        for name in ("src", "href"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        self._in_config = tag == "script" and attrs.get("id") == "gridtwin-config"

    def handle_data(self, data):
        if self._in_config:
            self.config = orjson.loads(data)
            self._in_config = False


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.mark.parametrize("page", sorted(PAGES))
async def test_each_page_is_served_in_the_browser_language_with_local_assets_only(client, page):
    zh = await client.get(f"/{page}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    parsed = parse(zh.text)
    assert parsed.lang == "zh-CN" and parsed.config["lang"] == "zh" and parsed.config["page"] == page
    assert parsed.config["strings"] == ZH
    assert i18n.translate("zh", f"{page}.title") in zh.text.split("<title>")[1]
    assert all(u.startswith("/static/") or u.startswith("data:") for u in parsed.urls), parsed.urls
    for url in parsed.urls:
        if url.startswith("/static/"):
            assert (await client.get(url)).status_code == 200, url
    en = parse((await client.get(f"/{page}", headers={"Accept-Language": "en-GB"})).text)
    assert en.lang == "en" and en.config["strings"] == EN


async def test_lang_parameter_wins_and_is_kept_in_a_cookie(client):
    response = await client.get("/wall?lang=zh", headers={"Accept-Language": "en"})
    assert parse(response.text).config["lang"] == "zh"
    assert "gridtwin_lang=zh" in response.headers["set-cookie"]
    # The cookie (set by that answer or by a page's toggle) outranks the browser's language.
    later = await client.get("/kpi", headers={"Accept-Language": "en"})
    assert parse(later.text).config["lang"] == "zh"
    client.cookies.set("gridtwin_lang", "en")
    assert parse((await client.get("/console", headers={"Accept-Language": "zh-CN"})).text).config["lang"] == "en"
    assert "set-cookie" not in (await client.get("/console")).headers
