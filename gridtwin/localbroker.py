"""Local MQTT brokers for the demo and the tests: a real Mosquitto process when it is
installed, else an embedded amqtt broker.

Both are context managers that pick a free port unless given one:

    with MosquittoBroker() as broker:
        print(broker.host, broker.port)
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from gridtwin.ports import free_port, wait_for_port
from mqttwire.mosquitto import TlsListener, listener_config

log = logging.getLogger(__name__)


# Debian installs Mosquitto in /usr/sbin, which is not on a regular user's PATH: looked in after PATH.
SBIN = ("/usr/sbin", "/usr/local/sbin")


def mosquitto_path() -> str | None:
    """The Mosquitto executable on PATH or in SBIN, or None."""
    return shutil.which("mosquitto", path=os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN]))


class MosquittoBroker:
    """A Mosquitto process with its own config in a temporary directory.

    `password_file` and `acl_file` are paths of files in Mosquitto's formats;
    without a password file anonymous clients are allowed. With `tls` the
    listener speaks MQTT over TLS only. Persistence is on, so `restart()` keeps
    sessions and queued QoS 1 messages.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        password_file: str | Path | None = None,
        acl_file: str | Path | None = None,
        extra_config: str = "",
        workdir: str | Path | None = None,
        tls: TlsListener | None = None,
    ):
        exe = mosquitto_path()
        if exe is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.exe = exe
        self.host = host
        self.port = port or free_port(host)
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="gridtwin-mosquitto-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password_file = password_file
        self.acl_file = acl_file
        self.extra_config = extra_config
        self.tls = tls
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def write_config(self) -> Path:
        lines = [
            *listener_config(self.port, bind=self.host, tls=self.tls),
            f"allow_anonymous {'false' if self.password_file else 'true'}",
            "persistence true",
            f"persistence_location {self.dir}/",
            "autosave_interval 1",
            # Unlimited queues: a busy gateway must not lose QoS 1 messages at the broker.
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "max_packet_size 2097152",
            "log_type error",
            "log_type warning",
            f"log_dest file {self.dir}/mosquitto.log",
        ]
        if os.geteuid() == 0:
            lines.append(f"user {getpass.getuser()}")
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.extra_config:
            lines.append(self.extra_config)
        path = self.dir / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> "MosquittoBroker":
        config = self.write_config()
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.dir
        )
        try:
            wait_for_port(self.host, self.port, proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}: {exc} {err}") from exc
        # Mosquitto writes a pid file only as a daemon; this one lets `[provisioning] broker_pid_file`
        # (and `gridtwin broker config --reload`) find the foreground process too.
        self.pid_file.write_text(f"{self.proc.pid}\n")
        log.info("mosquitto listening on %s:%d", self.host, self.port)
        return self

    @property
    def pid_file(self) -> Path:
        return self.dir / "mosquitto.pid"

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password file and ACL again (checked on new connections)."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("mosquitto is not running")
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class AmqttBroker:
    """An embedded amqtt broker in a background thread, for machines without Mosquitto."""

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1"):
        self.host = host
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._loop = None
        self._broker = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        import asyncio

        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
            "topic-check": {"enabled": False},
        }
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._broker.shutdown())
        loop.close()

    def start(self) -> "AmqttBroker":
        self._thread = threading.Thread(target=self._run, name="amqtt-broker", daemon=True)
        self._thread.start()
        self._ready.wait(20)
        if self._error:
            raise RuntimeError(f"embedded MQTT broker failed to start: {self._error}") from self._error
        wait_for_port(self.host, self.port)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "AmqttBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def local_broker(port: int | None = None):
    """Mosquitto when installed, else the embedded broker (not yet started)."""
    if mosquitto_path():
        return MosquittoBroker(port)
    log.warning("mosquitto is not installed; using the embedded amqtt broker (slower)")
    return AmqttBroker(port)
