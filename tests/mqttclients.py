"""MQTT clients with a login, for the tests that run against a Mosquitto with a password file and ACL:
connect as a device, reporter or service and record what reaches it."""

from __future__ import annotations

import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt


class Refused(Exception):
    """The broker refused the login; `reason` is its CONNACK reason."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(f"broker refused the connection: {reason}")


class LoggedIn:
    """A paho client logged in as `username`; `messages` holds (topic, payload) of what reached it."""

    def __init__(self, broker, username: str | None, password: str | None, *, client_id: str | None = None,
                 timeout: float = 5.0):
        self.messages: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self._answer = threading.Event()
        self._reason = None
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not self._answer.wait(timeout):
            self.close()
            raise TimeoutError("no CONNACK")
        if self._reason.is_failure:
            self.close()
            raise Refused(self._reason)

    def _on_connect(self, client, userdata, flags, reason, properties):
        self._reason = reason
        self._answer.set()
        if reason.is_failure:
            client.disconnect()  # paho would otherwise keep trying

    def _on_message(self, client, userdata, message):
        with self._cond:
            self.messages.append((message.topic, message.payload))
            self._cond.notify_all()

    def subscribe(self, topic_filter: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic_filter, qos=1)
        assert done.wait(5), "subscription not acknowledged"

    def publish(self, topic: str, payload, *, qos: int = 1) -> None:
        if not isinstance(payload, (bytes, str)):
            payload = orjson.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos)
        if qos:
            info.wait_for_publish(5)

    def wait_for(self, topic: str, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [p for t, p in self.messages if t == topic]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing on {topic} within {timeout} s; got {[t for t, _ in self.messages]}")
                self._cond.wait(left)

    def topics(self) -> list[str]:
        with self._cond:
            return [t for t, _ in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> "LoggedIn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def refused(broker, username, password, timeout: float = 5.0) -> bool:
    """Whether the broker refuses this login now."""
    try:
        LoggedIn(broker, username, password, timeout=timeout).close()
    except Refused:
        return True
    return False


def wait_refused(broker, username, password, want: bool = True, timeout: float = 5.0) -> None:
    """Wait until a reloaded broker refuses (or, with want=False, accepts) this login."""
    deadline = time.monotonic() + timeout
    while refused(broker, username, password) != want:
        assert time.monotonic() < deadline, f"login {username} still {'accepted' if want else 'refused'}"
        time.sleep(0.05)
