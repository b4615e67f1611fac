"""The devices' MQTT 3.1.1 client against a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest

from firmware_sim.errors import ConnectError, ConnectRefused, NotConnected
from firmware_sim.mqtt import MqttClient, Will
from gridtwin.localbroker import MosquittoBroker
from gridtwin.ports import free_port
from tests.firmware_sim.common import Collector, unique


def _client(broker, client_id, **kw) -> MqttClient:
    return MqttClient(broker.host, broker.port, client_id, **kw)


async def test_qos1_publish_is_acknowledged_and_retained(mosquitto):
    topic = unique("t/retained")
    client = _client(mosquitto, unique("dev"))
    async with client:
        await asyncio.wait_for(client.publish(topic, b"online", qos=1, retain=True), 5)
        assert client.inflight == 0
    # A subscriber arriving later still gets the retained message.
    async with Collector(mosquitto, topic) as sub:
        messages = await sub.wait_for(lambda m: m)
    assert messages == [(topic, b"online", True)]


async def test_qos0_and_qos1_messages_arrive_in_order(mosquitto):
    topic = unique("t/order")
    async with Collector(mosquitto, topic) as sub:
        async with _client(mosquitto, unique("dev")) as client:
            for i in range(50):
                client.publish(topic, str(i).encode(), qos=i % 2)
            await sub.wait_for(lambda m: len(m) == 50)
    assert sub.on(topic) == [str(i).encode() for i in range(50)]


async def test_abort_makes_the_broker_publish_the_will(mosquitto):
    topic = unique("t/status")
    client = _client(mosquitto, unique("dev"), will=Will(topic, b"offline", qos=1, retain=True))
    async with Collector(mosquitto, topic) as sub:
        await client.connect()
        client.publish(topic, b"online", qos=1, retain=True)
        await sub.wait_for(lambda m: len(m) == 1)
        client.abort()
        assert await asyncio.wait_for(client.wait_closed(), 5) is not None  # a loss, not a clean close
        await sub.wait_for(lambda m: len(m) == 2)
    assert sub.on(topic) == [b"online", b"offline"]
    assert not client.connected


async def test_clean_disconnect_discards_the_will(mosquitto):
    topic = unique("t/status")
    client = _client(mosquitto, unique("dev"), will=Will(topic, b"offline"))
    async with Collector(mosquitto, topic) as sub:
        async with client:
            client.publish(topic, b"online", qos=1, retain=True)
        assert await client.wait_closed() is None
        await asyncio.sleep(0.5)
    assert sub.on(topic) == [b"online"]


async def test_keepalive_pings_hold_an_idle_connection(mosquitto):
    # Mosquitto drops a client that sends nothing for 1.5 keep-alive periods; the client's
    # PINGREQs must prevent that, so no will is published and the connection still works.
    topic = unique("t/idle")
    client = _client(mosquitto, unique("dev"), keepalive=1, will=Will(topic, b"offline"))
    async with Collector(mosquitto, topic) as sub:
        async with client:
            await asyncio.sleep(1.9)
            assert client.connected
            await asyncio.wait_for(client.publish(topic, b"still here", qos=1), 5)
        await sub.wait_for(lambda m: len(m) == 1)
        await asyncio.sleep(0.3)
    assert sub.on(topic) == [b"still here"]


async def test_client_drops_a_connection_whose_broker_stopped_answering(fresh_mosquitto):
    client = _client(fresh_mosquitto, "dev-frozen", keepalive=1)
    await client.connect()
    os.kill(fresh_mosquitto.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        reason = await asyncio.wait_for(client.wait_closed(), 6)
        assert reason is not None
        assert 0.9 < time.monotonic() - started < 4.0
        assert not client.connected
    finally:
        os.kill(fresh_mosquitto.proc.pid, signal.SIGCONT)


async def test_unacknowledged_qos1_message_is_sent_again_after_reconnect(fresh_mosquitto):
    topic = "t/resend"
    async with Collector(fresh_mosquitto, topic) as sub:
        client = _client(fresh_mosquitto, "dev-resend", keepalive=0)
        await client.connect()
        os.kill(fresh_mosquitto.proc.pid, signal.SIGSTOP)
        try:
            delivered = client.publish(topic, b"must arrive", qos=1)
            await asyncio.sleep(0.2)
            assert client.inflight == 1 and not delivered.done()
            client.abort()
            await asyncio.wait_for(client.wait_closed(), 5)
        finally:
            os.kill(fresh_mosquitto.proc.pid, signal.SIGCONT)
        # Queued while disconnected: sent on the next connect without a second publish() call.
        queued = client.publish(topic, b"queued", qos=1)
        await client.connect()
        await asyncio.wait_for(asyncio.gather(delivered, queued), 5)
        assert client.inflight == 0
        await sub.wait_for(lambda m: b"must arrive" in sub.on(topic) and b"queued" in sub.on(topic))
        await client.disconnect()


async def test_qos0_without_connection_is_an_error(mosquitto):
    client = _client(mosquitto, unique("dev"))
    with pytest.raises(NotConnected, match="not connected"):
        client.publish("t/x", b"x", qos=0)


async def test_connect_to_a_closed_port_raises_connect_error():
    client = MqttClient("127.0.0.1", free_port(), "dev-nowhere", connect_timeout=2)
    with pytest.raises(ConnectError, match="cannot connect"):
        await client.connect()
    assert not client.connected
    assert await client.wait_closed() is not None


async def test_user_name_and_password(tmp_path):
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "aq-0001", "s3cret"], check=True)
    passwords.chmod(0o644)  # mosquitto may drop root privileges before reading it
    with MosquittoBroker(password_file=passwords, workdir=tmp_path / "broker") as broker:
        with pytest.raises(ConnectRefused) as refused:
            await _client(broker, "dev-aq-0001", username="aq-0001", password="wrong").connect()
        assert refused.value.code in (4, 5)
        async with _client(broker, "dev-aq-0001", username="aq-0001", password="s3cret") as client:
            await asyncio.wait_for(client.publish("gridtwin/v1/readings/aq-0001", b"{}", qos=1), 5)
