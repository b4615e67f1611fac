"""docs/adapters.md: a section per adapter, options and defaults that exist, links that resolve."""

import re
from pathlib import Path

import pytest

from gateway.adapters import ADAPTERS
from twin.config import ALL_ADAPTERS

DOCS = Path(__file__).resolve().parents[3] / "docs"
TEXT = (DOCS / "adapters.md").read_text(encoding="utf-8")


def test_every_adapter_is_in_the_table_and_the_default_list():
    for name in ADAPTERS:
        assert f"| `{name}` |" in TEXT, name
    assert f"enabled = {list(ALL_ADAPTERS)}".replace("'", '"') in TEXT
    assert list(ALL_ADAPTERS) == list(ADAPTERS)


@pytest.mark.parametrize("name", [n for n in ADAPTERS if n != "native"])
def test_every_option_is_documented(name):
    for option in ADAPTERS[name].DEFAULTS:
        assert f"`{option}`" in TEXT or f"{option} =" in TEXT, f"{name}.{option}"


def test_links_resolve():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", TEXT):
        assert (DOCS / target).exists(), target
