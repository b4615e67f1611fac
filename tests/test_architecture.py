"""docs/architecture.md names only modules that exist: every path in the source tree it mentions
(`twin/store/base.py`, `gateway/adapters/`) and every dotted name of ours (`twin.grid.files`,
`maps.create_app`), unless it is a settings key of the same shape (`gateway.group`)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from twin.config import Settings

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
PACKAGES = ("twin", "mqttwire", "gateway", "maps", "firmware_sim", "gridtwin", "bench", "tests")
TREE = PACKAGES + ("docs", "docker", "examples")

PATHS = sorted(set(re.findall(rf"(?<![\w./-])((?:{'|'.join(TREE)})/[\w./-]*[\w/])", TEXT)))
DOTTED = sorted(set(re.findall(rf"(?<![\w./-])((?:{'|'.join(PACKAGES)})(?:\.\w+)+)", TEXT)) - set(PATHS))


def test_the_document_names_modules():
    # The patterns below find what they should: a few names the document is known to use.
    assert {"twin/store/base.py", "mqttwire/packets.py", "gateway/adapters/"} <= set(PATHS)
    assert {"twin.grid.files", "maps.create_app"} <= set(DOTTED)


@pytest.mark.parametrize("path", PATHS)
def test_every_path_exists(path):
    assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"


def is_setting(name: str) -> bool:
    section, _, key = name.partition(".")
    return "." not in key and hasattr(getattr(Settings(), section, None), key)


@pytest.mark.parametrize("name", DOTTED)
def test_every_dotted_name_is_a_module_or_one_of_its_names(name):
    if is_setting(name):
        return
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:n]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[n:]:
            assert hasattr(found, attribute), f"docs/architecture.md names {name}: {attribute} is not there"
            found = getattr(found, attribute)
        return
    pytest.fail(f"docs/architecture.md names {name}, which is not a module of ours")
