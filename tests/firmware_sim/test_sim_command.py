"""`gridtwin sim` end to end: configuration, registry, broker and the printed figures."""

from __future__ import annotations

import argparse
import io
import json

from gridtwin.commands import sim as sim_command
from gridtwin.console import Console
from tests.firmware_sim.common import Collector, unique
from twin.store import open_store


def run_sim(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="gridtwin")
    sim_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, Console(json_mode=getattr(args, "json", False), out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def config(tmp_path, broker, prefix: str) -> str:
    path = tmp_path / "gridtwin.toml"
    path.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nprefix = "{prefix}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/twin.db"\n'
    )
    return str(path)


async def test_sim_registers_a_generated_fleet_then_plays_the_registry(mosquitto, tmp_path):
    prefix = unique("cmd")
    cfg = config(tmp_path, mosquitto, prefix)
    async with Collector(mosquitto, f"{prefix}/status/#") as births:
        code, out, err = await _in_thread(
            "--config", cfg, "--sensors", "6", "--cameras", "2", "--interval", "0.2", "--duration", "0.8",
            "--register", "--incidents", "2", "--json",
        )
        assert code == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["source"] == "generated" and summary["registered"] == 8 and summary["devices"] == 8
        assert summary["readings"] >= 6 and summary["connect_failures"] == 0 and summary["incidents"] == 2
        assert "registered 8 devices" in err  # human text goes to stderr with --json
        await births.wait_for(lambda m: len(m) == 8)
    with open_store(f"sqlite:///{tmp_path}/twin.db") as store:
        registered = {d.id for d in store.list_devices()}
    assert len(registered) == 8 and all(d.split("/")[-1] in registered for d, _, _ in births.messages)

    # Second run: the registry has devices, so the fleet size options no longer apply.
    code, out, err = await _in_thread("--config", cfg, "--sensors", "50", "--interval", "0.2", "--duration", "0.5")
    assert code == 0, err
    assert "8 devices (registry)" in out and "readings" in out


async def test_sim_rejects_bad_numbers(tmp_path, mosquitto):
    code, out, err = await _in_thread("--config", config(tmp_path, mosquitto, "x"), "--interval", "0")
    assert code == 2 and "--interval" in err


async def _in_thread(*argv: str):
    # The command runs its own event loop, as it does under `gridtwin`.
    import asyncio

    return await asyncio.to_thread(run_sim, *argv)
