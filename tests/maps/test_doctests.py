"""The examples in the web app's docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["maps.bodies", "maps.headers", "maps.history", "maps.i18n", "maps.params"])
def test_docstring_examples(name):
    failures, tried = doctest.testmod(importlib.import_module(name))
    assert tried and not failures
