"""The package layering, read from the source (docs/architecture.md draws it).

- twin (the domain) imports no other package of ours; mqttwire imports only twin;
- gateway and maps never import each other;
- no library package (twin, mqttwire, gateway, maps, firmware_sim) imports the command
  line (gridtwin), the benchmarks or the tests;
- no underscore module of one package is imported from outside it;
- twin's subpackages import each other in one direction only, no function-level import of
  ours hides a cycle in twin, and every twin module imports alone in a fresh interpreter.

Imports under `if TYPE_CHECKING:` count for the package boundaries but not for the order of
import within twin: they name a type for annotations (the store's, in the concepts that take
one) and never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("twin", "mqttwire", "gateway", "maps", "firmware_sim", "gridtwin", "bench", "tests")
LIBRARIES = ("twin", "mqttwire", "gateway", "maps", "firmware_sim")
# Loaded inside a function on purpose: psycopg is imported only when a PostgreSQL store is opened.
LAZY_IN_TWIN = {"twin.store.postgres"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted name of the importing module
    target: str  # dotted name of the imported module (or of the module a name comes from)
    line: int
    top_level: bool  # at import time, not inside a function
    typing_only: bool  # under `if TYPE_CHECKING:`


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> list[Import]:
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, top_level: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top_level and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            typing = typing_only or (isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"))
            if isinstance(child, ast.Import):
                found.extend(Import(importer, a.name, child.lineno, top_level, typing_only) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if is_module(sub) else base  # `from pkg import module` names the module
                    found.append(Import(importer, target, child.lineno, top_level, typing_only))
            visit(child, inner, typing)

    visit(ast.parse(path.read_text(), str(path)), True, False)
    return [i for i in found if i.target.split(".")[0] in OURS]


def sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


ALL = [i for path in sources(*OURS) for i in imports_of(path)]


def top(dotted: str) -> str:
    return dotted.split(".")[0]


def where(found: list[Import]) -> list[str]:
    return [f"{i.importer}:{i.line} imports {i.target}" for i in found]


def test_the_import_scan_sees_the_imports():
    # The rules below are only as good as the scan: these imports are known to exist.
    pairs = {(i.importer, i.target) for i in ALL}
    assert ("gateway.wire", "mqttwire.packets") in pairs
    assert ("twin.store", "twin.store.codec") in pairs
    assert ("twin.store", "twin.store.postgres") in pairs  # a function-level one
    assert any(i.typing_only for i in ALL if i.importer == "twin.cases.book" and i.target == "twin.store.base")


@pytest.mark.parametrize("package, allowed", [
    ("twin", {"twin"}),  # the domain knows nothing of MQTT, HTTP or processes
    ("mqttwire", {"mqttwire", "twin"}),
    ("gateway", {"gateway", "mqttwire", "twin"}),  # never maps
    ("maps", {"maps", "mqttwire", "twin"}),  # never gateway
    ("firmware_sim", {"firmware_sim", "mqttwire", "twin"}),  # a device, not a gateway
])  # fmt: skip
def test_each_library_package_imports_only_the_layers_below_it(package, allowed):
    assert where([i for i in ALL if top(i.importer) == package and top(i.target) not in allowed]) == []


def test_no_library_package_imports_the_command_line_benchmarks_or_tests():
    assert where([i for i in ALL if top(i.importer) in LIBRARIES
                  and top(i.target) in ("gridtwin", "bench", "tests")]) == []


def test_no_underscore_module_is_imported_from_outside_its_package():
    def private_owner(target: str) -> str | None:
        parts = target.split(".")
        for n, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                return ".".join(parts[:n])
        return None

    def outside(i: Import) -> bool:
        owner = private_owner(i.target)
        return owner is not None and not (i.importer == owner or i.importer.startswith(owner + "."))

    # Tests may use the internals of the package they test.
    assert where([i for i in ALL if top(i.importer) != "tests" and outside(i)]) == []


def twin_unit(dotted: str) -> str:
    """twin.cases.book -> twin.cases; a top-level module stays itself (twin.config)."""
    parts = dotted.split(".")
    return ".".join(parts[:2])


def test_twin_subpackages_depend_on_each_other_in_one_direction():
    edges: dict[str, set[str]] = {}
    for i in ALL:
        if top(i.importer) == "twin" and top(i.target) == "twin" and i.importer != "twin" and not i.typing_only:
            a, b = twin_unit(i.importer), twin_unit(i.target)
            if a != b and b != "twin":
                edges.setdefault(a, set()).add(b)
    cycles = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            else:
                walk(nxt, path + [nxt])

    for start in sorted(edges):
        walk(start, [start])
    assert cycles == []
    # The store is the top of twin: it keeps every concept, and no concept knows it.
    assert sorted(unit for unit, targets in edges.items() if "twin.store" in targets) == []


def test_no_function_level_import_in_twin_dodges_a_cycle():
    assert where([i for i in ALL if top(i.importer) == "twin" and not i.top_level
                  and i.target not in LAZY_IN_TWIN]) == []


def test_every_twin_module_imports_alone_in_a_fresh_interpreter():
    modules = sorted(module_name(p) for p in sources("twin"))
    # One process per module: a cycle between modules shows only in the order a fresh import takes.
    script = (
        # Third-party libraries loaded once, before the forks: only our modules' order matters here.
        "import importlib, os, sys, numpy, shapely, msgspec, orjson, psycopg\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except BaseException as exc:\n"
        "            print(f'{name}: {type(exc).__name__}: {exc}', flush=True)\n"
        "            os._exit(1)\n"
        "        os._exit(0)\n"
        "    if os.waitpid(pid, 0)[1]:\n"
        "        failed.append(name)\n"
        "sys.exit(1 if failed else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert (out.returncode, out.stdout) == (0, ""), out.stderr
