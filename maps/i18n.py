"""The operations room pages' words in Chinese and English: one catalog per language,
maps/static/i18n/<lang>.json, flat keys ("kpi.resolution_rate") to text with `{name}`
placeholders. Pages get the whole catalog of their language; their scripts look every
string up in it.

The language of a request: `?lang=`, else the `gridtwin_lang` cookie (the pages'
toggle sets it), else Chinese when Accept-Language prefers a Chinese locale to an
English one, else English.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import orjson

__all__ = ["CATALOG_DIR", "COOKIE", "LANGUAGES", "catalog", "choose", "placeholders", "preferred", "translate"]

LANGUAGES = ("zh", "en")
COOKIE = "gridtwin_lang"
CATALOG_DIR = Path(__file__).parent / "static" / "i18n"
HTML_LANG = {"zh": "zh-CN", "en": "en"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """The catalog of `lang` (one of LANGUAGES)."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
    return orjson.loads((CATALOG_DIR / f"{lang}.json").read_bytes())


def placeholders(text: str) -> set[str]:
    """The `{name}` placeholders of a catalog text.

    >>> sorted(placeholders("case {id} dispatched to {assignee}"))
    ['assignee', 'id']
    """
    return set(_PLACEHOLDER.findall(text))


def translate(lang: str, key: str, **params: object) -> str:
    """The text of `key` in `lang` with its placeholders filled; the key itself when missing.

    >>> translate("en", "lang.name")
    'English'
    """
    text = catalog(lang).get(key, key)
    return _PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), text)


def preferred(accept_language: str | None) -> str | None:
    """zh or en, whichever the Accept-Language header ranks first; None when it names neither.

    >>> preferred("zh-CN,zh;q=0.9,en;q=0.8"), preferred("en-GB,en;q=0.9,zh;q=0.5"), preferred("fr-FR")
    ('zh', 'en', None)
    >>> preferred("en;q=0.4, zh-TW;q=0.6"), preferred(""), preferred("zh;q=0")
    ('zh', None, None)
    """
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a page request (see the module docstring).

    >>> choose(None, None, "zh-CN"), choose("en", "zh", "zh-CN"), choose(None, "en", "zh"), choose(None, None, None)
    ('zh', 'en', 'en', 'en')
    """
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return preferred(accept_language) or "en"
