"""MQTT over TLS with generated certificates, against a real Mosquitto with a TLS listener.

The gateway (paho), the simulator (its own asyncio client) and the web app's live feed (aiomqtt)
connect with `mqtt.tls` and `mqtt.ca_file` and carry readings into the store; `gridtwin sim` and
the gateway present client certificates to a broker that requires them; a wrong CA, a certificate
for another host name and a plain client on the TLS port are refused with a message that names
the setting to fix, never a hang or a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import time
import uuid
from contextlib import asynccontextmanager

import pytest

from firmware_sim import Simulator
from firmware_sim.errors import ConnectError as SimConnectError
from firmware_sim.mqtt import MqttClient
from gateway.errors import ConnectError
from gateway.transport import MqttTransport
from gridtwin.cli import main as gridtwin_main
from gridtwin.commands import sim as sim_command
from gridtwin.console import Console
from gridtwin.localbroker import MosquittoBroker
from gridtwin.ports import free_port, wait_for_port
from maps.hub import Hub
from maps.live import CellBoard, LiveFeed
from mqttwire.mosquitto import TlsListener, write_broker_files
from mqttwire.tls import client_context
from tests.fixtures.tls import Pki
from tests.gateway.conftest import DEVICES, gateway_running, small_grid, wait_until
from twin.config import MqttSettings, Settings, load_settings
from twin.devices.provisioning import ensure_service_accounts, issue_device_credentials
from twin.errors import ConfigError, TwinError
from twin.store import open_store

SENSORS = [d for d in DEVICES if d.id in ("aq-1", "aq-2")]


def tls_mqtt(broker, pki: Pki, **changes) -> MqttSettings:
    values = {"host": broker.host, "port": broker.port, "tls": True, "ca_file": str(pki.ca),
              "client_id": f"gw-{uuid.uuid4().hex[:8]}"}
    return MqttSettings(**(values | changes))


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/twin.db")
    store.migrate()
    store.put_grid(small_grid())
    store.put_devices(DEVICES)
    yield store
    store.close()


@pytest.fixture
def secured_tls(tmp_path, pki, store):
    """(broker, passwords): Mosquitto with only a TLS listener, the password file and ACL written from
    the store (aq-1, aq-2, the gateway and the web app)."""
    now = time.time()
    passwords = {d.id: issue_device_credentials(store, d.id, now=now)[1] for d in SENSORS}
    passwords |= dict(ensure_service_accounts(store, Settings(), now=now).values())
    files = write_broker_files(store, "gridtwin/v1", tmp_path / "broker", now=now)
    with MosquittoBroker(password_file=files.password_file, acl_file=files.acl_file, workdir=tmp_path / "mosquitto",
                         tls=TlsListener(pki.server_cert, pki.server_key)) as broker:
        yield broker, passwords


@pytest.fixture
def client_cert_broker(tmp_path, pki):
    """Mosquitto whose TLS listener requires a client certificate signed by the test CA."""
    with MosquittoBroker(workdir=tmp_path / "mosquitto-certs",
                         tls=TlsListener(pki.server_cert, pki.server_key, pki.ca, require_certificate=True)) as broker:
        yield broker


def stored(store, device_id: str) -> int:
    return len(store.readings(device_id=device_id))


@asynccontextmanager
async def tls_gateway(broker, store, mqtt: dict):
    """A gateway on the broker's TLS port with the `[mqtt]` keys in `mqtt`."""
    settings = Settings().replace(
        mqtt={"host": broker.host, "port": broker.port, "client_id": f"gw-{uuid.uuid4().hex[:8]}", **mqtt},
        store={"url": store.url}, gateway={"state_publish_interval": 0.2})
    async with gateway_running(settings, store, small_grid()) as gw:
        yield gw


@pytest.mark.parametrize("client", ["native", "paho"])  # the gateway's two MQTT clients
async def test_simulator_gateway_and_live_feed_carry_readings_over_tls(secured_tls, pki, store, client):
    broker, pw = secured_tls
    grid = small_grid()
    web = tls_mqtt(broker, pki, username="gridtwin-web", password=pw["gridtwin-web"])
    feed = LiveFeed(web, store, CellBoard(grid), Hub(), backoff=(0.2, 1.0))
    feed_task = asyncio.create_task(feed.run())
    try:
        async with tls_gateway(broker, store, {"username": "gridtwin-gateway", "password": pw["gridtwin-gateway"],
                                               "tls": True, "ca_file": str(pki.ca), "client": client}):
            device_mqtt = tls_mqtt(broker, pki)
            async with Simulator(device_mqtt, SENSORS, interval=0.2, seed=3,
                                 credentials={d: (d, pw[d]) for d in ("aq-1", "aq-2")}) as sim:
                await sim.run(1.5)
            assert sim.stats.connect_failures == 0 and sim.stats.readings > 0
            await wait_until(lambda: stored(store, "aq-1") > 0 and stored(store, "aq-2") > 0, what="readings stored")
            await wait_until(lambda: feed.messages["cell"] > 0, what="cell states on the live feed")
            assert feed.connected
    finally:
        feed_task.cancel()
        await asyncio.gather(feed_task, return_exceptions=True)


@pytest.mark.parametrize("client", ["native", "paho"])  # the gateway's two MQTT clients
async def test_gridtwin_sim_and_the_gateway_present_client_certificates(client_cert_broker, pki, store, tmp_path,
                                                                        client):
    broker = client_cert_broker
    cert = {"cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
    config = tmp_path / "gridtwin.toml"
    config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ntls = true\nca_file = "{pki.ca}"\n'
                      f'cert_file = "{pki.client_cert}"\nkey_file = "{pki.client_key}"\n'
                      f'[store]\nurl = "{store.url}"\n')
    assert load_settings(config).mqtt.cert_file == str(pki.client_cert)
    async with tls_gateway(broker, store, {"tls": True, "ca_file": str(pki.ca), "client": client, **cert}):
        code, out, err = await asyncio.to_thread(run_command, sim_command, "sim", "--config", str(config),
                                                 "--interval", "0.2", "--duration", "1.5")
        assert code == 0, err
        assert "0 connect failures" in out
        await wait_until(lambda: stored(store, "aq-1") > 0 and stored(store, "aq-2") > 0, what="readings stored")

    # Without its certificate the same client is turned away, and told what to set.
    transport = MqttTransport(tls_mqtt(broker, pki), ("x/#",), client_id="no-cert")
    with pytest.raises(ConnectError, match="requires a client certificate, set mqtt.cert_file and mqtt.key_file"):
        transport.start(asyncio.get_running_loop(), lambda: None, timeout=8)


def run_command(module, name: str, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="gridtwin")
    module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([name, *argv])
    out, err = io.StringIO(), io.StringIO()
    return args.func(args, Console(json_mode=False, out=out, err=err)), out.getvalue(), err.getvalue()


async def test_a_wrong_ca_is_refused_by_every_client_with_a_clear_message(secured_tls, pki, caplog):
    broker, pw = secured_tls
    wrong = tls_mqtt(broker, pki, ca_file=str(pki.foreign_ca), username="gridtwin-gateway",
                     password=pw["gridtwin-gateway"])
    # The gateway's transport (paho): refused at once, naming the setting.
    transport = MqttTransport(wrong, ("x/#",), client_id="gw-wrong-ca")
    with pytest.raises(ConnectError, match=r"was not accepted: .*certificate.*; check mqtt\.ca_file"):
        transport.start(asyncio.get_running_loop(), lambda: None, timeout=8)
    # The simulator's client.
    client = MqttClient(broker.host, broker.port, "aq-1", username="aq-1", password=pw["aq-1"],
                        ssl=client_context(wrong))
    with pytest.raises(SimConnectError, match=r"check mqtt\.ca_file"):
        await client.connect()
    # The web app's live feed keeps retrying (and polling the store), saying why in its log.
    caplog.set_level(logging.INFO, logger="maps.live")
    feed = LiveFeed(wrong, open_store("sqlite:///:memory:"), CellBoard(small_grid()), Hub(), backoff=(0.2, 1.0))
    task = asyncio.create_task(feed._subscribe_forever())
    try:
        await wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, what="the live feed's log")
        assert not feed.connected
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("client", ["native", "paho"])
def test_gridtwin_gateway_with_a_wrong_ca_prints_the_reason_and_exits(secured_tls, pki, store, tmp_path, capsys,
                                                                      client):
    broker, pw = secured_tls
    config = tmp_path / "wrong-ca.toml"
    config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ntls = true\nclient = "{client}"\n'
                      f'ca_file = "{pki.foreign_ca}"\nusername = "gridtwin-gateway"\npassword = "{pw["gridtwin-gateway"]}"\n'
                      f'[store]\nurl = "{store.url}"\n[grid]\nsource = "demo"\n')
    code = gridtwin_main(["gateway", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 3
    assert f"{broker.host}:{broker.port}" in err and "check mqtt.ca_file" in err and "Traceback" not in err


async def test_a_plain_client_on_the_tls_port_is_told_to_use_tls(secured_tls, pki):
    broker, pw = secured_tls
    plain = MqttSettings(host=broker.host, port=broker.port, username="gridtwin-gateway",
                         password=pw["gridtwin-gateway"], client_id="gw-plain")
    transport = MqttTransport(plain, ("x/#",), client_id="gw-plain")
    # The broker drops the connection; the error says so at once instead of waiting out the timeout.
    with pytest.raises(ConnectError, match="closed the connection before answering CONNECT; if it is a TLS listener, "
                                           "set mqtt.tls = true"):
        transport.start(asyncio.get_running_loop(), lambda: None, timeout=30)
    client = MqttClient(broker.host, broker.port, "aq-1", username="aq-1", password=pw["aq-1"])
    with pytest.raises(SimConnectError, match=r"closed the connection before CONNACK \(if it is a TLS listener, "
                                              r"set mqtt\.tls = true\)"):
        await client.connect()


async def test_host_names_are_checked_unless_switched_off(tmp_path, pki):
    # A certificate from the right CA, but for broker.elsewhere: not for 127.0.0.1.
    with MosquittoBroker(workdir=tmp_path / "m", tls=TlsListener(pki.other_name_cert, pki.other_name_key)) as broker:
        checked = MqttTransport(tls_mqtt(broker, pki), ("x/#",), client_id="gw-checked")
        with pytest.raises(ConnectError, match="set mqtt.tls_check_hostname = false"):
            checked.start(asyncio.get_running_loop(), lambda: None, timeout=8)
        unchecked = MqttTransport(tls_mqtt(broker, pki, tls_check_hostname=False), ("x/#",), client_id="gw-unchecked")
        unchecked.start(asyncio.get_running_loop(), lambda: None, timeout=8)
        unchecked.stop()
        # Switching the name check off still verifies the chain: a foreign CA is refused.
        foreign = MqttTransport(tls_mqtt(broker, pki, tls_check_hostname=False, ca_file=str(pki.foreign_ca)),
                                ("x/#",), client_id="gw-foreign")
        with pytest.raises(ConnectError, match="check mqtt.ca_file"):
            foreign.start(asyncio.get_running_loop(), lambda: None, timeout=8)


@pytest.mark.parametrize("changes, message", [
    ({"tls": False, "ca_file": "ca.crt"}, "mqtt.ca_file is set but mqtt.tls is false"),  # certificates ignored
    ({"tls": True, "key_file": "k.pem"}, "mqtt.key_file needs mqtt.cert_file"),  # a key without its certificate
])
def test_inconsistent_tls_settings_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        MqttSettings(**changes)


def test_unusable_certificate_files_name_the_key(tmp_path, pki):
    with pytest.raises(ConfigError, match="mqtt.ca_file: .* does not exist"):
        client_context(MqttSettings(tls=True, ca_file=str(tmp_path / "missing.crt")))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="holds no usable CA certificate"):
        client_context(MqttSettings(tls=True, ca_file=str(junk)))
    with pytest.raises(ConfigError, match="not a usable certificate and key"):
        client_context(MqttSettings(tls=True, ca_file=str(pki.ca), cert_file=str(pki.client_cert),
                                    key_file=str(pki.server_key)))  # someone else's key
    context = client_context(MqttSettings(tls=True, ca_file=str(pki.ca)))
    assert context.check_hostname and client_context(MqttSettings()) is None


async def test_gridtwin_broker_config_writes_a_tls_listener_mosquitto_runs(tmp_path, pki, store):
    import tomllib

    out, port = tmp_path / "broker", free_port()
    code = gridtwin_main(["broker", "config", "--out", str(out), "--store", store.url, "--tls-port", str(port),
                          "--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key)])
    assert code == 0
    listener = (out / "listener.conf").read_text()
    assert f"listener {port}\n" in listener and "tls_version tlsv1.2" in listener
    login = tomllib.loads((out / "service-accounts.toml").read_text())["mqtt"]
    with MosquittoBroker(password_file=out / "passwords", acl_file=out / "acl", workdir=tmp_path / "m",
                         extra_config=listener):
        wait_for_port("127.0.0.1", port)
        mqtt = MqttSettings(host="127.0.0.1", port=port, tls=True, ca_file=str(pki.ca), **login)
        transport = MqttTransport(mqtt, ("gridtwin/v1/readings/#",), client_id="gw-listener")
        transport.start(asyncio.get_running_loop(), lambda: None, timeout=8)
        transport.stop()


@pytest.mark.parametrize("argv, message", [
    (["--tls-port", "8883", "--certfile", "s.crt"], "needs --certfile and --keyfile"),  # no key
    (["--certfile", "s.crt", "--keyfile", "s.key"], "need --tls-port"),  # files without a listener
])
def test_gridtwin_broker_config_refuses_half_a_tls_listener(tmp_path, store, capsys, argv, message):
    code = gridtwin_main(["broker", "config", "--out", str(tmp_path / "b"), "--store", store.url, *argv])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "b").exists()  # nothing written


def test_a_listener_that_requires_certificates_needs_their_ca(pki):
    with pytest.raises(TwinError, match="needs the CA that signs them"):
        TlsListener(pki.server_cert, pki.server_key, require_certificate=True)
    with pytest.raises(TwinError, match="does not exist"):
        TlsListener(pki.server_cert, "/nonexistent/server.key")
