"""The gateway's own MQTT 3.1.1 client (gateway/wire.py) against a real Mosquitto; its framing is
tested with the packets (tests/mqttwire/test_packets.py).

Reads cut into pieces, a packet larger than a read, a burst of queued
messages, a broker restart with the session kept, keep-alive against a silent
broker, redelivery of what a killed gateway had not acknowledged, wrong
credentials, and outbound publishes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

import gateway.wire as wire
from gateway.errors import ConnectError, TransportError
from gateway.transport import MqttTransport
from gateway.wire import NativeTransport, open_transport
from gridtwin.localbroker import MosquittoBroker
from mqttwire.packets import Inbound
from tests.gateway.conftest import Publisher, Recorder
from twin.config import MqttSettings, Settings
from twin.errors import ConfigError

# -- settings ----------------------------------------------------------------

def test_client_setting_chooses_the_transport():
    assert isinstance(open_transport(MqttSettings(client="native"), ("a/#",), client_id="x"), NativeTransport)
    assert isinstance(open_transport(MqttSettings(client="paho"), ("a/#",), client_id="x"), MqttTransport)
    # MQTT 5 is paho's alone, whatever the client setting says.
    assert isinstance(open_transport(MqttSettings(client="native", protocol="5"), ("a/#",), client_id="x"),
                      MqttTransport)
    with pytest.raises(ConfigError, match="mqtt.client must be 'native' or 'paho'"):
        MqttSettings(client="hbmqtt")


# -- against Mosquitto -------------------------------------------------------

class Receiver:
    """A NativeTransport on a broker, started from an event loop; collects what it receives."""

    def __init__(self, broker, filters=("w/#",), client_id: str | None = None, **mqtt):
        self.settings = MqttSettings(host=broker.host, port=broker.port, client="native", **mqtt)
        self.client_id = client_id or f"wire-{uuid.uuid4().hex[:8]}"
        self.transport = NativeTransport(self.settings, tuple(filters), client_id=self.client_id)
        self.received: list[Inbound] = []

    async def __aenter__(self) -> "Receiver":
        await asyncio.to_thread(self.transport.start, asyncio.get_running_loop(), lambda: None)
        assert self.transport.subscribed.is_set()  # start() returns once the broker has the subscriptions
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self.transport.stop)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Inbound]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.received += self.transport.drain(10_000)
            await asyncio.sleep(0.01)
        assert len(self.received) >= count, f"received {len(self.received)} of {count} messages"
        return self.received

    async def settle(self) -> None:
        """Until the broker has taken every packet written so far: a QoS 1 publish of ours is
        acknowledged only after what preceded it on the connection."""
        self.transport.publish("w-flush/x", b"", qos=1)
        deadline = time.monotonic() + 10
        while self.transport.unacknowledged and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not self.transport.unacknowledged


async def until(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        await asyncio.sleep(0.02)


async def test_reads_cut_into_pieces_and_a_packet_larger_than_a_read(mosquitto, monkeypatch):
    monkeypatch.setattr(wire, "READ_SIZE", 7)  # every packet, even its header, arrives in pieces
    async with Receiver(mosquitto) as r:
        pub = Publisher(mosquitto)
        payloads = [f"{i}:".encode() + b"p" * (i * 37) for i in range(40)]
        for i, p in enumerate(payloads):
            pub.send(f"w/small/{i}", p)
        await r.wait_for(len(payloads))
        monkeypatch.setattr(wire, "READ_SIZE", 256 * 1024)
        big = os.urandom(1_500_000)  # six reads of 256 KiB
        pub.send("w/big", big)
        pub.close()
        received = await r.wait_for(len(payloads) + 1)
    assert [m.payload for m in received[:-1]] == payloads
    assert [m.topic for m in received[:-1]] == [f"w/small/{i}" for i in range(40)]
    assert received[-1].topic == "w/big" and received[-1].payload == big and received[-1].qos == 1


async def test_qos_0_and_retained_messages_arrive_with_their_flags(mosquitto):
    root = f"wr-{uuid.uuid4().hex[:6]}"  # outside w/#: a retained message would reach the other tests
    pub = Publisher(mosquitto)
    pub.send(f"{root}/status", b"online", qos=1, retain=True)  # retained before the subscription
    try:
        async with Receiver(mosquitto, filters=(f"{root}/#",)) as r:
            pub.client.publish(f"{root}/q0", b"fire and forget", qos=0).wait_for_publish(5)
            received = await r.wait_for(2)
            by_topic = {m.topic: m for m in received}
            status, q0 = by_topic[f"{root}/status"], by_topic[f"{root}/q0"]
            assert (status.payload, status.retain, status.qos) == (b"online", True, 1)
            assert (q0.payload, q0.qos, q0.mid) == (b"fire and forget", 0, 0)
            r.transport.ack(received)  # the QoS 0 message needs no PUBACK, and gets none
            await r.settle()
            assert r.transport.reconnects == 0  # nothing the broker would call a protocol error was sent
    finally:
        pub.send(f"{root}/status", b"", retain=True)  # clear the retained message
        pub.close()


async def test_a_full_inbox_stops_the_reads_until_drained_and_loses_nothing(mosquitto, monkeypatch):
    monkeypatch.setattr(wire, "INBOX_LIMIT", 5)  # past five undrained messages the socket is left unread
    async with Receiver(mosquitto) as r:
        pub = Publisher(mosquitto)
        for i in range(60):
            pub.client.publish(f"w/full/{i}", f"{i}".encode(), qos=1)
        pub.send("w/full/last", b"60")
        pub.close()
        got, deadline = [], time.monotonic() + 20
        while len(got) < 61 and time.monotonic() < deadline:
            assert len(r.transport.inbox) <= 5 + 4096  # at most what one read held past the limit
            got += r.transport.drain(3)
            await asyncio.sleep(0.005)
        assert sorted(int(m.payload) for m in got) == list(range(61))
        r.transport.ack(got)
        await r.settle()  # what is queued after a pause is still sent at once


async def test_a_burst_of_queued_messages_arrives_whole_and_acked_once(mosquitto):
    client_id = f"wire-{uuid.uuid4().hex[:8]}"
    async with Receiver(mosquitto, client_id=client_id):
        pass  # the session and its subscription now exist
    pub = Publisher(mosquitto)
    for i in range(2000):
        pub.client.publish(f"w/burst/{i % 50}", f"{i}".encode(), qos=1)
    pub.send("w/burst/last", b"2000")
    pub.close()
    async with Receiver(mosquitto, client_id=client_id) as r:
        received = await r.wait_for(2001)
        assert sorted(int(m.payload) for m in received) == list(range(2001))
        r.transport.ack(received)
        await r.settle()
    async with Receiver(mosquitto, client_id=client_id) as r:  # nothing is sent again: all were acked
        pub = Publisher(mosquitto)
        pub.send("w/burst/sentinel", b"sentinel")
        pub.close()
        received = await r.wait_for(1)
        assert [m.payload for m in received] == [b"sentinel"]


async def test_broker_restart_keeps_the_session_and_redelivers_what_was_not_acked(fresh_mosquitto):
    broker = fresh_mosquitto
    async with Receiver(broker) as r:
        pub = Publisher(broker)
        for i in range(5):
            pub.send(f"w/r/{i}", f"{i}".encode())
        pub.close()
        first = await r.wait_for(5)
        r.transport.ack(first[:2])  # 0 and 1 acknowledged; 2, 3, 4 still open
        await r.settle()
        broker.restart()
        await until(lambda: r.transport.reconnects == 1 and r.transport.connected.is_set(), what="reconnect")
        pub = Publisher(broker)
        pub.send("w/r/after", b"after")  # the subscription survived in the session
        pub.close()
        again = (await r.wait_for(9))[5:]
        assert [m.payload for m in again] == [b"2", b"3", b"4", b"after"]
        r.transport.ack(again)
        # Outbound QoS 1 publishes work on the new connection too.
        rec = Recorder(broker, "w-out/#")
        r.transport.publish("w-out/state", b"retained", qos=1, retain=True)
        await until(lambda: rec.messages, what="outbound publish")
        assert rec.messages == [("w-out/state", b"retained", False)]
        rec.close()
        await r.settle()


async def test_keepalive_holds_an_idle_connection_and_finds_a_silent_broker(fresh_mosquitto):
    broker = fresh_mosquitto
    async with Receiver(broker, keepalive=2) as r:
        await asyncio.sleep(4.5)  # Mosquitto drops a client silent for 1.5 keep-alives
        assert r.transport.reconnects == 0 and r.transport.connected.is_set()
        broker.proc.send_signal(signal.SIGSTOP)  # the broker hangs: no PINGRESP, no FIN
        try:
            await until(lambda: not r.transport.connected.is_set(), timeout=10, what="a hung broker noticed")
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        await until(lambda: r.transport.connected.is_set(), timeout=15, what="reconnect after the broker resumed")
        pub = Publisher(broker)
        pub.send("w/alive", b"1")
        pub.close()
        assert [m.payload for m in await r.wait_for(1)] == [b"1"]


KILLED = """
import asyncio, os, signal, sys, time
from gateway.wire import NativeTransport
from twin.config import MqttSettings

async def main():
    t = NativeTransport(MqttSettings(host=sys.argv[1], port=int(sys.argv[2])), ("w/#",), client_id=sys.argv[3])
    await asyncio.to_thread(t.start, asyncio.get_running_loop(), lambda: None)
    print("ready", flush=True)
    got = []
    while len(got) < 6:
        got += t.drain(100)
        await asyncio.sleep(0.01)
    t.ack(got[:3])
    t.publish("w-flush/x", b"", qos=1)  # acknowledged only after the three PUBACKs were read
    while t.unacknowledged:
        await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_what_a_killed_gateway_had_not_acked_is_delivered_again(mosquitto):
    client_id = f"wire-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, mosquitto.host, str(mosquitto.port), client_id],
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    pub = Publisher(mosquitto)
    for i in range(6):
        pub.send(f"w/k/{i}", f"{i}".encode())
    pub.close()
    assert await asyncio.to_thread(proc.wait, 20) == -signal.SIGKILL
    async with Receiver(mosquitto, client_id=client_id) as r:
        pub = Publisher(mosquitto)
        pub.send("w/k/sentinel", b"sentinel")
        pub.close()
        received = await r.wait_for(4)
        assert [m.payload for m in received] == [b"3", b"4", b"5", b"sentinel"]
        r.transport.ack(received)
        await r.settle()


async def test_wrong_credentials_give_a_clear_error(tmp_path):
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gateway", "right"], check=True)
    passwords.chmod(0o644)
    with MosquittoBroker(password_file=passwords, workdir=tmp_path / "mosquitto") as broker:
        with pytest.raises(ConnectError, match=r"refused the connection of .*: (bad user name or password|not authorized)"):
            async with Receiver(broker, username="gateway", password="wrong"):
                pass
        async with Receiver(broker, username="gateway", password="right") as r:
            assert r.transport.connected.is_set()


async def test_an_unreachable_broker_is_a_clear_error():
    from gridtwin.ports import free_port

    with pytest.raises(ConnectError, match=r"cannot reach MQTT broker 127.0.0.1:\d+"):
        settings = MqttSettings(port=free_port("127.0.0.1"), client="native")
        NativeTransport(settings, ("w/#",), client_id="nobody").start(asyncio.get_running_loop(), lambda: None)


@pytest.mark.parametrize("client", ["native", "paho"])
async def test_a_transport_starts_once(client):
    from gridtwin.ports import free_port

    settings = MqttSettings(port=free_port("127.0.0.1"), client=client)
    transport = open_transport(settings, ("w/#",), client_id="once")
    with pytest.raises(ConnectError):
        async with transport:
            pass
    # Started (and failed) once: a second start is refused before it touches the network.
    with pytest.raises(TransportError, match="the MQTT transport of once was started before .*make a new one"):
        async with transport:
            pass


def test_gateway_default_client_is_native():
    assert Settings().mqtt.client == "native"


@pytest.mark.parametrize("client", ["native", "paho"])
async def test_the_gateway_stores_acks_and_publishes_through_either_client(mosquitto, twin_store, client):
    from gateway import Gateway
    from tests.gateway.conftest import A, wait_until

    store, grid = twin_store
    prefix = f"t{uuid.uuid4().hex[:6]}/v1"
    settings = Settings().replace(
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": prefix, "client": client,
              "client_id": f"gw-{uuid.uuid4().hex[:8]}"},
        store={"url": store.url}, gateway={"state_publish_interval": 0.2})
    now = time.time()
    rec = Recorder(mosquitto, f"{prefix}/#")
    try:
        async with Gateway(settings, store, grid) as gw:
            assert type(gw.transport) is {"native": NativeTransport, "paho": MqttTransport}[client]
            stop = asyncio.Event()
            task = asyncio.create_task(gw.run(stop))
            pub = Publisher(mosquitto)
            pub.send(f"{prefix}/readings/aq-1", {"ts": now, "seq": 1, "values": {"pm25": 180.0}})
            await rec.wait_for(lambda t, p: t.startswith(f"{prefix}/events/") and p["data"]["status"] == "opened")
            await rec.wait_for(lambda t, p: t.endswith(f"{A}/state") and p["data"]["level"] == "critical")
            await wait_until(lambda: len(store.readings(device_id="aq-1")) == 1, what="reading stored")
            stop.set()
            await task
        pub.send(f"{prefix}/readings/aq-2", {"ts": now, "seq": 1, "values": {"pm25": 20.0}})  # while down
        pub.close()
        async with Gateway(settings, store, grid) as gw:
            stop = asyncio.Event()
            task = asyncio.create_task(gw.run(stop))
            await wait_until(lambda: len(store.readings(device_id="aq-2")) == 1, what="reading sent while down")
            stop.set()
            await task
            # Only that one: the first reading was acknowledged after it was stored, not sent again.
            assert gw.pipeline.stats.messages == 1
    finally:
        rec.close()


async def test_over_tls_reads_cut_into_pieces_and_a_large_packet_arrive_whole(tmp_path, pki, monkeypatch):
    from mqttwire.mosquitto import TlsListener

    with MosquittoBroker(workdir=tmp_path / "m", tls=TlsListener(pki.server_cert, pki.server_key)) as broker:
        async with Receiver(broker, tls=True, ca_file=str(pki.ca)) as r:
            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
            pub.tls_set(ca_certs=str(pki.ca))
            pub.connect(broker.host, broker.port)
            pub.loop_start()
            try:
                monkeypatch.setattr(wire, "READ_SIZE", 5)  # TLS records hand over a few bytes at a time
                for i in range(20):
                    pub.publish(f"w/tls/{i}", f"{i}".encode() * 50, qos=1).wait_for_publish(5)
                await r.wait_for(20)
                monkeypatch.setattr(wire, "READ_SIZE", 256 * 1024)
                big = os.urandom(700_000)
                pub.publish("w/tls/big", big, qos=1).wait_for_publish(5)
                received = await r.wait_for(21)
            finally:
                pub.disconnect()
                pub.loop_stop()
            assert [m.payload for m in received[:20]] == [f"{i}".encode() * 50 for i in range(20)]
            assert received[20].payload == big
            r.transport.ack(received)
            await r.settle()


async def test_tls_mistakes_name_the_setting_to_fix(tmp_path, pki):
    from mqttwire.mosquitto import TlsListener

    with MosquittoBroker(workdir=tmp_path / "m", tls=TlsListener(pki.server_cert, pki.server_key)) as broker:
        with pytest.raises(ConnectError, match=r"was not accepted: .*; check mqtt\.ca_file"):
            async with Receiver(broker, tls=True, ca_file=str(pki.foreign_ca)):
                pass
        with pytest.raises(ConnectError, match=r"closed the connection before answering CONNECT.*; if it is a TLS "
                                               r"listener, set mqtt\.tls = true"):
            async with Receiver(broker):
                pass
    with MosquittoBroker(workdir=tmp_path / "c", tls=TlsListener(pki.server_cert, pki.server_key, pki.ca,
                                                                  require_certificate=True)) as broker:
        with pytest.raises(ConnectError, match=r"if it requires a client certificate, set mqtt\.cert_file and "
                                               r"mqtt\.key_file"):
            async with Receiver(broker, tls=True, ca_file=str(pki.ca)):
                pass
        async with Receiver(broker, tls=True, ca_file=str(pki.ca), cert_file=str(pki.client_cert),
                            key_file=str(pki.client_key)) as r:
            assert r.transport.connected.is_set()
