"""Links for the scenario player: one real MQTT connection per device, with a retained last will
`offline` and a retained birth `online` on `{prefix}/status/{id}`, as the simulator's devices
have. QoS 1 throughout; `flush` waits for the broker's acknowledgements."""

from __future__ import annotations

import asyncio
from typing import Iterable

from firmware_sim.errors import ConnectError
from firmware_sim.mqtt import MqttClient, Will
from firmware_sim.simulator import raise_open_files_limit
from mqttwire.tls import client_context
from twin.config import MqttSettings
from twin.devices.device import Device


class MqttLink:
    """An async context manager: connects every device on entry, disconnects them on exit."""

    def __init__(self, mqtt: MqttSettings, devices: Iterable[Device], *, concurrency: int = 64,
                 client_prefix: str = "play"):
        self.mqtt = mqtt
        self.prefix = mqtt.prefix.rstrip("/")
        self.sent = 0
        self.clients: dict[str, MqttClient] = {}
        self._pending: list[asyncio.Future] = []
        self._devices = list(devices)
        self._concurrency = concurrency
        self._client_prefix = client_prefix

    async def __aenter__(self) -> "MqttLink":
        raise_open_files_limit()
        tls = client_context(self.mqtt)
        for device in self._devices:
            self.clients[device.id] = MqttClient(
                self.mqtt.host, self.mqtt.port, f"{self._client_prefix}-{device.id}", keepalive=600,
                clean_session=False, will=Will(self._status(device.id), b"offline", qos=1, retain=True),
                username=self.mqtt.username, password=self.mqtt.password, ssl=tls,
            )
        slots = asyncio.Semaphore(self._concurrency)

        async def open_one(device_id: str) -> None:
            async with slots:
                await self.connect(device_id)

        await asyncio.gather(*(open_one(d.id) for d in self._devices))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.flush(timeout=5.0)
        await asyncio.gather(*(c.disconnect() for c in self.clients.values() if c.connected), return_exceptions=True)

    def _status(self, device_id: str) -> str:
        return f"{self.prefix}/status/{device_id}"

    async def connect(self, device_id: str) -> None:
        client = self.clients[device_id]
        if client.connected:
            return
        for attempt in range(5):
            try:
                await client.connect()
                break
            except ConnectError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        self._pending.append(client.publish(self._status(device_id), b"online", qos=1, retain=True))
        self.sent += 1

    def publish(self, device_id: str, kind: str, payload: bytes) -> None:
        topic = f"{self.prefix}/camera/{device_id}/events" if kind == "camera" else f"{self.prefix}/readings/{device_id}"
        self._pending.append(self.clients[device_id].publish(topic, payload, qos=1))
        self.sent += 1

    def drop(self, device_id: str) -> None:
        client = self.clients[device_id]
        if client.connected:
            client.abort()
            self.sent += 1  # the broker publishes the will

    async def flush(self, timeout: float | None = 60.0) -> None:
        pending, self._pending = [f for f in self._pending if not f.done()], []
        if pending:
            await asyncio.wait(pending, timeout=timeout)
