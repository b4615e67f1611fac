"""Entry point of the `gridtwin` command. Each command lives in gridtwin/commands/<name>.py
and provides `register(subparsers)`, which adds its parser with `func` set to a
function `(args, console) -> int`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gridtwin.console import Console
from twin.errors import TwinError

COMMANDS = ("demo", "gateway", "serve", "sim", "grid", "devices", "db", "users", "audit", "broker", "reporters", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridtwin", description="IoT sensing gateway and digital-twin grid map")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"gridtwin.commands.{name}")
        module.register(sub)
    return parser


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (GRIDTWIN_* variables override it)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    console = Console(json_mode=getattr(args, "json", False))
    try:
        return int(args.func(args, console) or 0)
    except TwinError as exc:
        console.error(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
