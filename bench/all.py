"""Every benchmark with a target, one after the other, and a table of their figures.

Each benchmark runs as its own process (`python -m bench NAME --json ...`) so that none
inherits another's memory or threads; the machine's load (`uptime`) is recorded before each.
The table (figure, baseline of the same run, ratio, target, met or not, load) is printed and
written into docs/performance.md between its markers; the rest of the file is left as it is.
`--quick` runs every benchmark at tiny sizes (a smoke run: the figures mean nothing) and writes
no file unless `--doc` names one.

    python -m bench all [--quick] [--only lookup,store] [--doc PATH | --no-doc] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import emit

START = "<!-- bench all: start -->"
END = "<!-- bench all: end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"

# name -> (full-size arguments, quick arguments)
RUNS: dict[str, tuple[list[str], list[str]]] = {
    "ingest": ([], ["--messages", "2000", "--runs", "1"]),
    "latency": ([], ["--rates", "200", "--seconds", "2"]),
    "lookup": ([], ["--cells", "300", "--points", "5000", "--runs", "1"]),
    "store": ([], ["--rows", "2000", "--repeat", "1", "--days", "0.5", "--queries", "2"]),
    "map": ([], ["--cells", "300", "--rate", "100", "--seconds", "2", "--loads", "1"]),
    "memory": ([], ["--devices", "300", "--reports", "2", "--rate", "300"]),
    "dispatch": ([], ["--pairs", "5", "--rate", "5", "--background", "50"]),
    "wall": ([], ["--cells", "300", "--seconds", "1", "--rates", "1", "--loads", "1"]),
}


def load() -> str:
    """The load averages from `uptime`."""
    try:
        out = subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout
        return out.rsplit("load average:", 1)[-1].strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run(name: str, args: list[str]) -> dict:
    """One benchmark in its own process; its JSON, or the error it ended with."""
    before = load()
    proc = subprocess.run([sys.executable, "-m", "bench", name, *args, "--json"], capture_output=True, text=True,
                          env=os.environ | {"PYTHONUNBUFFERED": "1"})
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        result = {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return {"name": name, "args": args, "load": before, "exit": proc.returncode, "result": result}


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _ms(value) -> str:
    return "–" if value is None else f"{value} ms"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rows(entry: dict) -> list[list[str]]:
    """Table rows of one benchmark: [benchmark, GridTwin, baseline, ratio, target, met, load]."""
    name, r, loadavg = entry["name"], entry["result"], entry["load"]
    if "error" in r:
        return [[name, f"failed: {r['error']}", "", "", "", "", loadavg]]
    out: list[list[str]] = []
    if name == "ingest":
        ok = r["ratio"] >= 0.8 and r["lost"] == 0
        out.append([f"ingest, {r['messages']:,} readings, median of {r['runs']}", f"{_n(r['gateway_rate'])}/s to stored rows, "
                    f"{r['lost']} lost", f"{_n(r['baseline_rate'])}/s bare paho subscriber", f"{r['ratio']:.2f}",
                    ">= 0.8, 0 lost", _met(ok), loadavg])
    elif name == "latency":
        for x in r["results"]:
            a, b = x["anomaly"], x["baseline_broker_hop"]
            target, ok = ("p99 < 100 ms", a["p99_ms"] is not None and a["p99_ms"] < 100) if x["rate"] == 5000 else ("", None)
            out.append([f"latency at {_n(x['rate'])}/s (achieved {_n(x['achieved_rate'])}/s)",
                        f"p50 {_ms(a['p50_ms'])}, p99 {_ms(a['p99_ms'])} ({a['n']} events)",
                        f"broker hop p50 {_ms(b['p50_ms'])}, p99 {_ms(b['p99_ms'])}",
                        "", target, "" if ok is None else _met(ok), loadavg])
    elif name == "lookup":
        for x in r["results"]:
            pg = f"; PostGIS {_n(x['postgis_points_per_s'])}/s" if "postgis_points_per_s" in x else ""
            at_10k = 5_000 <= x["cells"] <= 20_000
            ok = x["ours_points_per_s"] >= 1_000_000 and x["ours_vs_sjoin"] > 1
            out.append([f"lookup, {_n(x['cells'])} {x['shape']} cells ({x['path']}), {_n(r['points'])} points",
                        f"{_n(x['ours_points_per_s'])} points/s (gateway path {_n(x['pipeline_points_per_s'])}/s)",
                        f"sjoin {_n(x['sjoin_points_per_s'])}/s{pg}", f"x{x['ours_vs_sjoin']} of sjoin",
                        ">= 1 M/s, > sjoin" if at_10k else "", _met(ok) if at_10k else "", loadavg])
    elif name == "store":
        for backend in ("postgres", "sqlite"):
            if backend not in r:
                continue
            w, q = r[backend]["write"], r[backend]["queries"]
            if backend == "postgres":
                out.append([f"store write, PostgreSQL, {_n(r['rows'])} rows", f"{_n(w['rows_per_s'])} rows/s",
                            f"psql COPY {_n(w['baseline_psql_copy_rows_per_s'])} rows/s", f"{w['ratio']:.2f}", ">= 0.7",
                            _met(w["ratio"] >= 0.7), loadavg])
            else:
                out.append([f"store write, SQLite, {_n(r['rows'])} rows", f"{_n(w['rows_per_s'])} rows/s",
                            f"bare executemany {_n(w['baseline_insert_rows_per_s'])} rows/s", f"{w['ratio']:.2f}", "",
                            "", loadavg])
            out.append([f"store queries, {backend}, {_n(q['rows'])} rows over {q['days']:g} days",
                        f"cell day {q['cell_day_ms']} ms, cell hourly {q['cell_hourly_ms']} ms, district hourly "
                        f"{q['district_hourly_ms']} ms", f"bare SQL: cell day {q['cell_day_bare_sql_ms']} ms, cell hourly "
                        f"{q['cell_hourly_bare_sql_ms']} ms", "", "", "", loadavg])
    elif name == "map":
        ok = r["first_render_ms"] < 2000 and r["sent"] >= r["rate"] * r["seconds"] and r["dropped"] == 0
        b = r["page_bytes"]
        out.append([f"map, {_n(r['cells'])} cells", f"first render {_n(r['first_render_ms'])} ms; {_n(r['page_per_s'])} "
                    f"updates/s reached the page, {r['dropped']} of {_n(r['sent'])} dropped; page {_n(b['total'] / 1e3)} kB "
                    f"(HTML {_n(b['html'] / 1e3)}, JS {_n(b['js'] / 1e3)}, CSS {_n(b['css'] / 1e3)}, data {_n(b['data'] / 1e3)})",
                    f"cells fetched and parsed alone {_n(r['baseline_fetch_parse_ms'])} ms; plain subscriber received "
                    f"{_n(r['baseline_received'])}", f"{r['page_vs_baseline']} of the subscriber's updates",
                    f"< 2 s with {_n(r['rate'])} updates/s delivered", _met(ok), loadavg])
    elif name == "memory":
        g, w, rss = r["rss"]["gateway"], r["rss"]["web_app"], r["rss"]
        out.append([f"memory, {_n(r['devices'])} devices reporting", f"gateway {g['steady_mb']} MB steady, {g['peak_mb']} MB "
                    f"peak; web app {w['steady_mb']} / {w['peak_mb']} MB", f"Python with the gateway's imports "
                    f"{rss['bare_gateway_imports']['steady_mb']} MB, the web app's {rss['bare_web_imports']['steady_mb']} MB; "
                    f"bare paho subscriber {rss['bare_subscriber']['steady_mb']} MB", "", "gateway < 200 MB",
                    _met(g["peak_mb"] < 200), loadavg])
    elif name == "dispatch":
        d, b = r["dispatch"], r["baseline_broker_hop"]
        out.append([f"dispatch, {r['pairs']} pairs", f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms",
                    f"broker hop p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms", "", "", "", loadavg])
    elif name == "wall":
        out.append([f"wall, {_n(r['cells'])} cells", f"first render {_n(r['wall']['first_render_ms'])} ms",
                    f"map page cells drawn {_n(r['map_page']['cells_drawn_ms'])} ms", "", "", "", loadavg])
    return out


def safe_rows(entry: dict) -> list[list[str]]:
    """`rows`, or one row saying which figure was missing (a benchmark's output changed)."""
    try:
        return rows(entry)
    except (KeyError, TypeError) as exc:
        return [[entry["name"], f"output not understood ({exc!r}); run it alone", "", "", "", "", entry["load"]]]


def table(entries: list[dict], quick: bool) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"`python -m bench all{' --quick' if quick else ''}`, {when}, {os.cpu_count()} cores "
            "(load averages: 1, 5 and 15 minutes, before each benchmark).", "",
            "| Benchmark | GridTwin | Baseline (same run) | Ratio | Target | Met | Load |", "|---|---|---|---|---|---|---|"]
    body = ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for e in entries for row in safe_rows(e)]
    return "\n".join(head + body)


def write_doc(path: Path, text: str) -> None:
    """Put `text` between the markers of `path`, which must hold both exactly once."""
    doc = path.read_text(encoding="utf-8")
    if doc.count(START) != 1 or doc.count(END) != 1 or doc.index(START) > doc.index(END):
        raise SystemExit(f"{path}: expected one {START} line followed by one {END} line")
    before, rest = doc.split(START)
    _, after = rest.split(END)
    path.write_text(f"{before}{START}\n{text}\n{END}{after}", encoding="utf-8")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench all", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: proves each benchmark runs, measures nothing")
    p.add_argument("--only", help=f"comma-separated benchmarks (default all: {','.join(RUNS)})")
    p.add_argument("--doc", type=Path, help=f"file to write the table into (default {DOC.name} unless --quick)")
    p.add_argument("--no-doc", action="store_true", help="print the table only")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    entries = []
    for name in names:
        full, quick = RUNS[name]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        entries.append(run(name, quick if args.quick else full))
    text = table(entries, args.quick)
    doc = None if args.no_doc else args.doc or (None if args.quick else DOC)
    if doc is not None:
        write_doc(doc, text)
    emit({"benchmark": "all", "quick": args.quick, "doc": str(doc) if doc else None, "runs": entries}, args.json,
         [text] + ([f"written to {doc}"] if doc else []))
    return 0 if all("error" not in e["result"] for e in entries) else 1
