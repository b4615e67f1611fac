"""`python -m bench NAME [options]`: run one benchmark (ingest, latency, dispatch, wall, backup,
lookup, store, faults, map, memory, scaleout, hostile, simulator), or `all` of those with a target
(bench/all.py); `mutation` runs mutation testing of the core modules (bench/mutation.py), which `all`
leaves out."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("ingest", "latency", "dispatch", "wall", "lookup", "store", "backup", "faults", "map", "memory", "scaleout",
              "hostile", "simulator", "mutation", "all")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m bench {{{','.join(BENCHMARKS)}}} [--json] [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{argv[0]}")
    return module.main(argv[1:])


raise SystemExit(main(sys.argv[1:]))
