"""Deployment files against the code: examples/gridtwin.toml, docker-compose.yml,
the Dockerfile and .ci/run. No Docker engine runs here, so the compose file is
checked for structure and for settings that twin.config really reads."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from gridtwin.cli import COMMANDS
from twin.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = {"migrate", "gateway", "web", "sim"}
# The "scale" profile (docs/scaling.md): an EMQX cluster and a group of gateways.
SCALE_SERVICES = {"emqx1", "emqx2", "gateway-0", "gateway-1", "web-scale"}


# -- examples/gridtwin.toml ---------------------------------------------------


def test_example_config_loads():
    settings = load_settings(ROOT / "examples" / "gridtwin.toml", env={})
    assert settings.store.url == "sqlite:///gridtwin.db"
    assert settings.metrics["noise_db"].warning == 65  # a default metric changed
    assert settings.metrics["noise_db"].unit == "dB(A)"  # ... keeping what the file does not change
    assert settings.metrics["no2"].unit == "ug/m3"  # a metric added


def test_example_config_shows_the_defaults():
    """The example doubles as the reference of defaults: its plain keys must equal the code's."""
    import tomllib

    data = tomllib.loads((ROOT / "examples" / "gridtwin.toml").read_text(encoding="utf-8"))
    defaults = Settings()
    for section, table in data.items():
        if section == "metrics":
            continue
        for key, value in table.items():
            assert getattr(getattr(defaults, section), key) == value, f"[{section}] {key}"


def test_environment_overrides_the_example_config():
    env = {"GRIDTWIN_MQTT_HOST": "broker.intranet", "GRIDTWIN_WEB_PORT": "8081", "GRIDTWIN_MQTT_TLS": "true"}
    settings = load_settings(ROOT / "examples" / "gridtwin.toml", env=env)
    assert (settings.mqtt.host, settings.web.port, settings.mqtt.tls) == ("broker.intranet", 8081, True)


# -- docker-compose.yml -------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default}, with no variable set."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def _settings_fields() -> set[str]:
    names = set()
    for section in dataclasses.fields(Settings):
        if dataclasses.is_dataclass(section.default_factory):
            for f in dataclasses.fields(section.default_factory):
                names.add(f"GRIDTWIN_{section.name.upper()}_{f.name.upper()}")
    return names


def test_compose_services(compose):
    default = {n for n, s in compose["services"].items() if "profiles" not in s}
    assert default == {"mosquitto", "db"} | APP_SERVICES
    assert set(compose["services"]) - default == SCALE_SERVICES
    assert all(compose["services"][n]["profiles"] == ["scale"] for n in SCALE_SERVICES)
    assert compose["services"]["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert compose["services"]["db"]["image"] == "timescale/timescaledb-ha:pg16"
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["build"] == ".", name
        assert service["command"][0] in COMMANDS, name


def test_compose_settings_are_real_settings(compose):
    known = _settings_fields()
    for name in APP_SERVICES:
        env = {k: _interpolate(str(v)) for k, v in compose["services"][name]["environment"].items()}
        assert {k for k in env if k.startswith("GRIDTWIN_")} <= known, name
        settings = load_settings(env=env)
        assert settings.mqtt.host == "mosquitto", name
        assert settings.store.url == "postgresql://gridtwin:gridtwin@db:5432/gridtwin", name
    assert load_settings(env=compose["services"]["web"]["environment"]).web.host == "0.0.0.0"
    client_ids = [compose["services"][n]["environment"].get("GRIDTWIN_MQTT_CLIENT_ID") for n in ("gateway", "web", "sim")]
    assert len(set(client_ids)) == 3  # one broker session each: a shared client id would kick the other off


def test_compose_scale_profile_is_a_group_of_gateways_on_an_emqx_cluster(compose):
    from gateway.cluster import Membership

    services = compose["services"]
    nodes = {n: services[n]["environment"] for n in ("emqx1", "emqx2")}
    names = {env["EMQX_NODE__NAME"] for env in nodes.values()}
    assert len(names) == 2
    for name, env in nodes.items():
        # One cluster: every node lists every node as a seed, with the same cookie.
        assert env["EMQX_CLUSTER__DISCOVERY_STRATEGY"] == "static"
        assert set(env["EMQX_CLUSTER__STATIC__SEEDS"].strip("[]").split(",")) == names
        assert env["EMQX_NODE__COOKIE"] == nodes["emqx1"]["EMQX_NODE__COOKIE"]
        # A device's messages always to the same member of a shared group: in order.
        assert env["EMQX_MQTT__SHARED_SUBSCRIPTION_STRATEGY"] == "hash_topic"
        host = env["EMQX_NODE__NAME"].split("@")[1]
        assert services[name]["hostname"] == host and host in services[name]["networks"]["default"]["aliases"]
    gateways = sorted(n for n in SCALE_SERVICES if n.startswith("gateway-"))
    members = []
    for name in gateways:
        env = {k: _interpolate(str(v)) for k, v in services[name]["environment"].items()}
        assert {k for k in env if k.startswith("GRIDTWIN_")} <= _settings_fields(), name
        settings = load_settings(env=env)
        assert settings.mqtt.host in nodes and settings.store.url == "postgresql://gridtwin:gridtwin@db:5432/gridtwin"
        assert services[name]["command"] == ["gateway"]
        members.append((settings.gateway.group, settings.gateway.members, settings.gateway.member_index,
                        settings.gateway.instance, settings.mqtt.host,
                        f"{settings.mqtt.client_id}-{settings.gateway.member_index}"))
        assert Membership(settings.gateway, settings.mqtt.prefix).filters(["t/#"]) == (f"$share/{settings.gateway.group}/t/#",)
    groups, sizes, indexes, instances, hosts, client_ids = zip(*members)
    assert len(set(groups)) == 1 and set(sizes) == {len(gateways)}
    assert sorted(indexes) == list(range(len(gateways)))  # exactly one member 0, which judges
    assert len(set(instances)) == len(set(client_ids)) == len(gateways)
    assert len(set(hosts)) == len(gateways)  # each on its own broker node


def test_compose_start_order(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
            elif condition == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", (name, dependency)
            else:
                assert condition == "service_started", (name, dependency)
    for name in ("gateway", "web", "sim"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("mosquitto", "db", "web"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name


def test_compose_mounts_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)


def test_dockerfile_builds_one_image_for_every_command():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert 'ENTRYPOINT ["gridtwin"]' in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "README.md" not in ignored and "pyproject.toml" not in ignored  # the wheel build needs both


# -- .ci/run ------------------------------------------------------------------


def test_ci_script_is_executable_bash():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert "python -m pytest" in text


# -- docs/operations.md and the links of the docs -----------------------------


def test_operations_md_names_only_real_commands():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`gridtwin (\w+)", text)) | set(re.findall(r"^gridtwin (\w+)", text, re.M))
    assert named and named <= set(COMMANDS)


@pytest.mark.parametrize("doc", ["mqtt.md", "operations.md"])
def test_doc_links_resolve(doc):
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not re.match(r"\w+://", target):
            assert (ROOT / "docs" / target).exists(), f"{doc}: {target}"
