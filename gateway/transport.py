"""The MQTT transport of the gateway: a paho-mqtt client in its own network thread.

Messages are handed to the asyncio side in batches (one wake-up per batch, not
per message), and acknowledged only when the gateway says so: with
`manual_ack`, a QoS 1 message is acked after its rows are stored, so a crash
before that makes the broker redeliver it. The protocol is `mqtt.protocol`:
3.1.1 by default, 5, or "auto" (MQTT 5 where the broker speaks it, else
3.1.1); the session is persistent in each.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.errors import ConnectError
from gateway.inbox import InboxTransport
from gateway.types import ConnectionState
from mqttwire.packets import Inbound
from mqttwire.tls import client_context, describe_tls_error
from twin.config import MqttSettings

log = logging.getLogger(__name__)

__all__ = ["MqttTransport"]

NOT_UTF8_TOPIC = "(topic not valid UTF-8)"  # dead-lettered as an unknown topic


class MqttTransport(InboxTransport):
    """One MQTT connection through paho-mqtt: subscribe to `filters`, receive into an inbox, publish,
    ack. Started once (gateway/inbox.py); reconnects with exponential backoff (1 s to 30 s) on its
    own; `reconnects` counts them.
    """

    def __init__(self, settings: MqttSettings, filters: tuple[str, ...], *, client_id: str,
                 manual_ack: bool = True, protocol: str | None = None, wake: Callable[[], None] | None = None):
        super().__init__(settings, filters, client_id=client_id, manual_ack=manual_ack, wake=wake)
        self.protocol_choice = protocol or settings.protocol
        self.protocol = None  # 5 or 4 (3.1.1) once connected
        self._client: mqtt.Client | None = None
        self._refused: str | None = None
        self._ever_connected = False
        self._ssl: ssl.SSLContext | None = None

    # -- lifetime -------------------------------------------------------------
    def _start(self, timeout: float) -> None:
        """Connect (trying MQTT 5 first in "auto" mode) and start the network thread."""
        versions = {"auto": (5, 4), "5": (5,), "3.1.1": (4,)}[self.protocol_choice]
        last_error: ConnectError | None = None
        for version in versions:
            try:
                self._connect(version, timeout)
                return
            except ConnectError as exc:
                last_error = exc
                log.info("MQTT %s connect to %s:%d failed: %s", "5" if version == 5 else "3.1.1",
                         self.settings.host, self.settings.port, exc)
        assert last_error is not None
        raise last_error

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
        kwargs: dict = {}
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
        """The TLS context of `mqtt.tls`/`ca_file`/`cert_file`/`key_file` (mqttwire.tls), made once per transport."""
        if self._ssl is None and self.settings.tls:
            self._ssl = client_context(self.settings)
        return self._ssl

    def stop(self) -> None:
        self.state = ConnectionState.CLOSED
        if self._client is not None:
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
            # paho keeps the topic's bytes only privately; Mosquitto refuses such a topic from a publisher.
            topic = NOT_UTF8_TOPIC
        self.inbox.append(Inbound(topic, bytes(message.payload), time.time(), message.mid, message.qos,
                                  message.retain))
        self._arrived()

    # -- used from the asyncio side --------------------------------------------
    def ack(self, messages: Sequence[Inbound]) -> None:
        """Acknowledge the QoS 1 and 2 messages of a batch (QoS 0 needs none). paho queues one packet
        per PUBACK; the gateway's own client (gateway/wire.py) writes a batch's PUBACKs at once."""
        client = self._client
        if not self.manual_ack or client is None:
            return
        for m in messages:
            if m.qos:
                client.ack(m.mid, m.qos)

    def _subscribe_more(self, filters: tuple[str, ...]) -> None:
        if self._client is not None:
            self._client.subscribe([(f, 1) for f in filters])

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=qos, retain=retain)
