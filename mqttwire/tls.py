"""The TLS context of every MQTT client of GridTwin, made from the `[mqtt]` settings in one place.

The gateway (paho), the simulator (its own asyncio client) and the web app's live feed (aiomqtt)
all take an `ssl.SSLContext`, so each gets this one: the broker's certificate is verified against
`mqtt.ca_file` (or the system's CAs), its host name checked unless `mqtt.tls_check_hostname` is
false, and `mqtt.cert_file`/`mqtt.key_file` presented when the broker asks for a client certificate.

    context = client_context(settings.mqtt)   # None when mqtt.tls is false
"""

from __future__ import annotations

import ssl

from twin.config import MqttSettings
from twin.errors import ConfigError

__all__ = ["client_context", "describe_tls_error"]


def client_context(mqtt: MqttSettings) -> ssl.SSLContext | None:
    """An SSL context for a client of the broker in `mqtt`, or None without `mqtt.tls`.

    Raises ConfigError naming the key when a file is missing or holds no usable certificate or key.
    """
    if not mqtt.tls:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=mqtt.ca_file)
    except FileNotFoundError:
        raise ConfigError(f"mqtt.ca_file: {mqtt.ca_file} does not exist") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"mqtt.ca_file: {mqtt.ca_file} holds no usable CA certificate ({exc})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Off, the chain is still verified against the CA: only the name in the certificate is not compared.
    context.check_hostname = mqtt.tls_check_hostname
    if mqtt.cert_file:
        try:
            context.load_cert_chain(mqtt.cert_file, mqtt.key_file)
        except FileNotFoundError as exc:
            raise ConfigError(f"mqtt.cert_file/mqtt.key_file: {exc.filename or mqtt.cert_file} does not exist") from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"mqtt.cert_file {mqtt.cert_file} and mqtt.key_file {mqtt.key_file or '(in cert_file)'} "
                              f"are not a usable certificate and key ({exc})") from exc
    return context


def describe_tls_error(exc: BaseException, host: str, port: int) -> str:
    """A message a user can act on for a failed TLS handshake with the broker at host:port."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        hint = ("the certificate is not for this host name: connect by a name it lists, or set "
                "mqtt.tls_check_hostname = false" if "mismatch" in str(reason).lower() or "hostname" in str(reason).lower()
                else "check mqtt.ca_file: it must be the CA that signed the broker's certificate")
        return f"TLS: the certificate of MQTT broker {host}:{port} was not accepted: {reason}; {hint}"
    reason = getattr(exc, "reason", None) or str(exc)
    return (f"TLS handshake with MQTT broker {host}:{port} failed: {reason} (is it a TLS listener? does it "
            f"require a client certificate, mqtt.cert_file and mqtt.key_file?)")
