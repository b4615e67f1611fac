"""docs/http-api.md keeps up with the API: every documented path appears, its links and anchors resolve."""

from __future__ import annotations

import re
from pathlib import Path

from maps.app import ROUTES
from maps.openapi import openapi_document
from twin.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
TEXT = (DOCS / "http-api.md").read_text(encoding="utf-8")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_path_of_the_openapi_document_is_described():
    paths = openapi_document(Settings(), ROUTES)["paths"]
    for path, item in paths.items():
        for method in item:
            assert f"{method.upper()} {path}" in TEXT, f"http-api.md does not describe {method.upper()} {path}"


def test_links_and_anchors_resolve():
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", TEXT, re.MULTILINE)}
    for target in re.findall(r"\]\(([^)]+)\)", TEXT):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (DOCS / path).exists(), target
        elif anchor:
            assert anchor in anchors, f"no heading for #{anchor}"
