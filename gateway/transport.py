"""The MQTT transport of the gateway: a paho-mqtt client in its own network thread.

Messages are handed to the asyncio side in batches (one wake-up per batch, not
per message), and acknowledged only when the gateway says so: with
`manual_ack`, a QoS 1 message is acked after its rows are stored, so a crash
before that makes the broker redeliver it. The protocol is `mqtt.protocol`:
3.1.1 by default, 5, or "auto" (MQTT 5 where the broker speaks it, else
3.1.1); the session is persistent in each.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import ssl
import struct
import threading
import time
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.errors import ConnectError
from gateway.messages import Inbound
from twin.config import MqttSettings
from twin.tls import client_context, describe_tls_error

log = logging.getLogger(__name__)

_PUBACK = struct.Struct("!BBH")


class ConnectionState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


class MqttTransport:
    """One MQTT connection: subscribe to `filters`, receive into an inbox, publish, ack.

    Not re-entrant: `start()` once, `stop()` once. Reconnects with exponential
    backoff (1 s to 30 s) on its own; `reconnects` counts them.
    """

    def __init__(self, settings: MqttSettings, filters: tuple[str, ...], *, client_id: str,
                 manual_ack: bool = True, protocol: str | None = None):
        self.settings = settings
        self.filters = filters
        self.client_id = client_id
        self.manual_ack = manual_ack
        self.protocol_choice = protocol or settings.protocol
        self.protocol: int | None = None  # 5 or 4 (3.1.1) once connected
        self.state = ConnectionState.IDLE
        self.reconnects = 0
        self.connected = threading.Event()
        self.inbox: collections.deque[Inbound] = collections.deque()
        self._wake: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self._client: mqtt.Client | None = None
        self._refused: str | None = None
        self._ever_connected = False
        self._ssl: ssl.SSLContext | None = None

    # -- lifetime -------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None], timeout: float = 10.0) -> None:
        """Connect (trying MQTT 5 first in "auto" mode) and start the network thread."""
        self._loop, self._wake = loop, wake
        versions = {"auto": (5, 4), "5": (5,), "3.1.1": (4,)}[self.protocol_choice]
        last_error = None
        for version in versions:
            try:
                self._connect(version, timeout)
                return
            except ConnectError as exc:
                last_error = exc
                log.info("MQTT %s connect to %s:%d failed: %s", "5" if version == 5 else "3.1.1",
                         self.settings.host, self.settings.port, exc)
        raise last_error  # type: ignore[misc]

    def _connect(self, version: int, timeout: float) -> None:
        s = self.settings
        protocol = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if version == 5 else False,
            protocol=protocol,
            manual_ack=self.manual_ack,
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set_context(self.ssl_context())
        client.reconnect_delay_set(1, 30)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client, self._refused = client, None
        self.connected.clear()
        self.state = ConnectionState.CONNECTING
        kwargs = {}
        if version == 5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry
            kwargs = {"clean_start": False, "properties": props}
        try:
            client.connect(s.host, s.port, keepalive=s.keepalive, **kwargs)
        except ssl.SSLError as exc:
            raise ConnectError(describe_tls_error(exc, s.host, s.port)) from exc
        except (OSError, ValueError) as exc:
            raise ConnectError(f"cannot reach MQTT broker {s.host}:{s.port}: {exc}") from exc
        client.loop_start()
        deadline = time.monotonic() + timeout
        while not self.connected.wait(0.05):
            closed = self.state == ConnectionState.DISCONNECTED
            if self._refused or time.monotonic() > deadline or closed:
                client.loop_stop()
                client.disconnect()
                if closed and not self._refused:
                    # A TLS listener drops a plain CONNECT (and an MQTT 3.1.1-only broker an MQTT 5 one).
                    hint = ("if it requires a client certificate, set mqtt.cert_file and mqtt.key_file" if s.tls
                            else "if it is a TLS listener, set mqtt.tls = true")
                    raise ConnectError(f"MQTT broker {s.host}:{s.port} closed the connection before answering "
                                       f"CONNECT; {hint}")
                raise ConnectError(self._refused or f"no CONNACK from {s.host}:{s.port} within {timeout:.0f} s")
        self.protocol = version

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of `mqtt.tls`/`ca_file`/`cert_file`/`key_file` (twin.tls), made once per transport."""
        if self._ssl is None and self.settings.tls:
            self._ssl = client_context(self.settings)
        return self._ssl

    def stop(self) -> None:
        if self._client is not None:
            self.state = ConnectionState.CLOSED
            self._client.disconnect()
            self._client.loop_stop()

    # -- paho callbacks (network thread) ---------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = f"broker refused the connection: {reason_code}"
            log.warning("MQTT connect refused by %s:%d: %s", self.settings.host, self.settings.port, reason_code)
            return
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        # Subscribing again on every connect is harmless with a persistent session and
        # required when the broker lost it.
        client.subscribe([(f, 1) for f in self.filters])
        self.state = ConnectionState.CONNECTED
        self.connected.set()
        log.info("MQTT connected to %s:%d (session present: %s)", self.settings.host, self.settings.port,
                 flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if self.state != ConnectionState.CLOSED:
            self.state = ConnectionState.DISCONNECTED
            if not self._ever_connected:
                return  # the first connect reports its own error
            log.warning("MQTT connection to %s:%d lost (%s); reconnecting", self.settings.host,
                        self.settings.port, reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", errors="replace")  # invalid UTF-8 topic: keep for the dead letter
        self.inbox.append(Inbound(topic, message.payload, time.time(), message.mid, message.qos, message.retain))
        if not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        self._wake_pending = False
        if self._wake is not None:
            self._wake()

    # -- used from the asyncio side --------------------------------------------
    def drain(self, limit: int) -> list[Inbound]:
        inbox, batch = self.inbox, []
        pop = inbox.popleft
        for _ in range(min(limit, len(inbox))):
            batch.append(pop())
        return batch

    def ack(self, messages: list[Inbound]) -> None:
        """Acknowledge QoS 1 messages (QoS 0 needs none), all of a batch in one write.

        paho sends each PUBACK as its own queued packet with a wake-up of its
        network thread; a batch of 2,000 would cost 4,000 system calls. The
        PUBACKs are concatenated into one packet instead: a QoS 1 PUBACK is the
        same four bytes in MQTT 3.1.1 and 5 (success needs no reason code)."""
        if not self.manual_ack or self._client is None:
            return
        mids = [m.mid for m in messages if m.qos == 1]
        if any(m.qos == 2 for m in messages):
            for m in messages:
                if m.qos == 2:
                    self._client.ack(m.mid, m.qos)
        if mids:
            packet = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids)
            self._client._packet_queue(0x40, packet, 0, 0)

    def subscribe(self, filters: list[str]) -> None:
        """Subscribe to more topic filters at run time; they are subscribed again after a reconnect."""
        new = tuple(f for f in dict.fromkeys(filters) if f not in self.filters)
        if not new:
            return
        self.filters = self.filters + new
        if self._client is not None and self.connected.is_set():
            self._client.subscribe([(f, 1) for f in new])

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=qos, retain=retain)
