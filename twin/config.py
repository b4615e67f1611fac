"""Settings for every GridTwin process: one typed object, loaded from TOML with GRIDTWIN_* overrides.

Environment overrides name the section and the key: `GRIDTWIN_MQTT_HOST`,
`GRIDTWIN_STORE_URL`, `GRIDTWIN_WEB_PORT`, `GRIDTWIN_GATEWAY_BATCH_SIZE`.
Values are parsed as the type of the field they replace.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from twin.basemap import BasemapSettings, TileLayer, basemap_from_config
from twin.cases.autodispatch import DEFAULT_RULES, DispatchRule, rules_from_config
from twin.cases.deadlines import TimeLimits
from twin.cases.responsibility import Responsibility
from twin.errors import ConfigError
from twin.people.users import Role
from twin.sensing.catalog import MetricCatalog
from twin.sensing.detection import DetectionSettings


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    prefix: str = "gridtwin/v1"
    client_id: str = "gridtwin-gateway"
    keepalive: int = 30
    # TLS (docs/mqtt.md#tls): `ca_file` is the CA that signed the broker's certificate (unset: the
    # system's CAs); `cert_file` and `key_file` are this client's own certificate, for brokers that
    # require one; `tls_check_hostname = false` accepts a certificate for another name (still signed
    # by the CA), for brokers reached by an address their certificate does not list.
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_check_hostname: bool = True
    session_expiry: int = 86400  # seconds the broker keeps a disconnected gateway's session
    # "3.1.1" by default: paho parses MQTT 5 properties on every message, which costs the
    # gateway about a third more CPU per reading (docs/performance.md), and the ingest path
    # needs nothing MQTT 5 adds (a 3.1.1 session persists with clean session off; brokers
    # offer $share subscriptions to 3.1.1 clients). "auto" tries MQTT 5, then 3.1.1.
    protocol: str = "3.1.1"
    # The gateway's MQTT client: "native" (gateway/wire.py, 3.1.1 only; reads many messages per
    # system call) or "paho". MQTT 5 ("5" or "auto" above) always goes through paho.
    client: str = "native"

    def __post_init__(self) -> None:
        if self.protocol not in ("auto", "5", "3.1.1"):
            raise ConfigError(f"mqtt.protocol must be 'auto', '5' or '3.1.1', not {self.protocol!r}")
        if self.client not in ("native", "paho"):
            raise ConfigError(f"mqtt.client must be 'native' or 'paho', not {self.client!r}")
        if self.key_file and not self.cert_file:
            raise ConfigError("mqtt.key_file needs mqtt.cert_file (the client certificate it belongs to)")
        files = [k for k in ("ca_file", "cert_file", "key_file") if getattr(self, k)]
        if files and not self.tls:
            # Certificates on a plain connection would be ignored: say so rather than send passwords in clear.
            raise ConfigError(f"mqtt.{files[0]} is set but mqtt.tls is false; set mqtt.tls = true")


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite:///gridtwin.db"
    # Retention (docs/operations.md#retention): raw readings older than `readings_days` are rolled
    # up into hourly figures per cell and metric, which are kept `hourly_days`; 0 keeps them all.
    # The gateway applies it every `prune_interval_s`; `gridtwin db prune` applies it at once.
    readings_days: float = 0.0
    hourly_days: float = 0.0
    prune_interval_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.readings_days < 0 or self.hourly_days < 0:
            raise ConfigError("store.readings_days and store.hourly_days must be 0 (keep everything) or more")
        if self.readings_days and self.hourly_days and self.hourly_days < self.readings_days:
            raise ConfigError(f"store.hourly_days ({self.hourly_days:g}) must be at least store.readings_days "
                              f"({self.readings_days:g}): hourly figures outlive the readings they sum up")
        if not self.prune_interval_s > 0:
            raise ConfigError("store.prune_interval_s must be positive")


@dataclass(frozen=True)
class GridSettings:
    source: str = "demo"  # "demo", or a path to a grid file (GeoJSON, GeoPackage, Shapefile)


@dataclass(frozen=True)
class GatewaySettings:
    batch_size: int = 2000  # messages processed (and rows written) per batch at most
    batch_interval: float = 0.02  # seconds a partial batch may wait for more messages
    max_payload_bytes: int = 256 * 1024
    max_batch_readings: int = 1000  # readings in one buffered-upload array
    max_future_s: float = 300.0  # a timestamp further ahead than this is `future_timestamp`
    max_age_s: float = 7 * 86400.0  # a timestamp older than this is `stale_timestamp`
    state_publish_interval: float = 1.0  # seconds between two retained state messages of one cell
    instance: str = "gw-1"
    # While the store is unavailable, batches are spooled to `{spool_dir}/{instance}` (relative to
    # the working directory; made on first use) and replayed when it is back (docs/reliability.md).
    # A full spool stops acknowledgements, so the broker holds messages; 1024 MB is 35 to 80 minutes
    # of 2,000 two-metric readings a second.
    spool_dir: str = "gridtwin-spool"
    spool_max_mb: float = 1024.0
    # Scale-out (docs/scaling.md): `members` gateways share the inbound topics through the MQTT
    # shared subscription `$share/{group}/...`; member 0 judges (detection, live cell state,
    # anomalies, cases) for all of them, the others store and hand it what they received.
    group: str = ""
    members: int = 1
    member_index: int = 0
    # Member 0 judges a record no sooner than this after its message was received: a broker that
    # deals a device's messages to several members (Mosquitto) and processes read at different
    # moments can swap two of them, and within this delay they are put back in order.
    group_delay_s: float = 0.2
    # "wall": now is the machine's clock; "stream": now follows the devices' own timestamps
    # (gateway/streamclock.py), for replaying recorded or simulated data.
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.clock not in ("wall", "stream"):
            raise ConfigError(f"gateway.clock must be 'wall' or 'stream', not {self.clock!r}")
        if not 0 <= self.group_delay_s <= 60:
            raise ConfigError(f"gateway.group_delay_s must be 0 to 60 seconds, not {self.group_delay_s!r}")
        if any(ch in self.group for ch in "/+#") or self.group != self.group.strip():
            raise ConfigError(f"gateway.group {self.group!r} must be one MQTT topic level: no '/', '+', '#' "
                              "or surrounding spaces")
        if not isinstance(self.members, int) or self.members < 1:
            raise ConfigError(f"gateway.members must be a whole number of 1 or more, not {self.members!r}")
        if not isinstance(self.member_index, int) or not 0 <= self.member_index < self.members:
            raise ConfigError(f"gateway.member_index must be 0..{self.members - 1} (gateway.members - 1), "
                              f"not {self.member_index!r}")
        if self.members > 1 and not self.group:
            raise ConfigError("gateway.members is more than 1 but gateway.group is empty; name the shared "
                              "subscription group the members share, e.g. group = \"gridtwin\"")


ALL_ADAPTERS = ("native", "frigate", "ttn", "zigbee2mqtt", "senml", "tasmota", "esphome", "alink", "homeassistant")


@dataclass(frozen=True)
class AdapterSettings:
    """Which payload adapters the gateway runs, and each one's options (`[adapters.NAME]` tables,
    checked by the adapter itself). The default runs them all, each on its source's default topics."""

    enabled: tuple[str, ...] = ALL_ADAPTERS
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # One basemap tile URL template (XYZ, WGS-84), or "none"; [basemap] (twin/basemap.py) says more.
    tiles: str = "none"
    tiles_attribution: str = ""
    title: str = "GridTwin"
    # The web app's own broker login (its live feed only reads); unset: the [mqtt] login.
    mqtt_username: str | None = None
    mqtt_password: str | None = None

    def mqtt(self, mqtt: "MqttSettings") -> "MqttSettings":
        """The [mqtt] settings with the web app's own login, when it has one."""
        if self.mqtt_username is None:
            return mqtt
        return dataclasses.replace(mqtt, username=self.mqtt_username, password=self.mqtt_password)


@dataclass(frozen=True)
class ProvisioningSettings:
    """`[provisioning]`: what a device's configuration bundle says about the broker, where the
    broker's password file and ACL live, and the service accounts' user names (docs/provisioning.md)."""

    broker_host: str = ""  # the host devices connect to; "" = mqtt.host
    broker_port: int = 0  # 0 = mqtt.port
    broker_tls: bool = False
    password_file: str = ""  # when set (with acl_file), the gateway rewrites both after a claim
    acl_file: str = ""
    broker_pid_file: str = ""  # and sends SIGHUP to the Mosquitto whose pid is in this file
    gateway_username: str = "gridtwin-gateway"
    web_username: str = "gridtwin-web"
    claim_code_hours: float = 720.0  # how long a claim code may wait for its device

    def __post_init__(self) -> None:
        if bool(self.password_file) != bool(self.acl_file):
            raise ConfigError("provisioning.password_file and provisioning.acl_file go together: set both or neither")
        if not self.claim_code_hours > 0:
            raise ConfigError("provisioning.claim_code_hours must be positive")


@dataclass(frozen=True)
class CaseSettings:
    """`[cases]`: how anomalies become cases, their time limits and auto-dispatch rules.
    `limits` and `dispatch_rules` take the TOML tables described in twin/cases/deadlines.py and
    twin/cases/autodispatch.py."""

    enabled: bool = True  # this gateway opens cases, publishes their updates and escalates them
    merge_window_s: float = 1800.0  # an anomaly joins an open case of its type and cell this recent
    relay_interval_s: float = 0.5  # how often the gateway looks for case changes made elsewhere
    limits: TimeLimits = field(default_factory=TimeLimits)
    dispatch_rules: tuple[DispatchRule, ...] = DEFAULT_RULES

    def __post_init__(self) -> None:
        if not isinstance(self.limits, TimeLimits):
            object.__setattr__(self, "limits", TimeLimits.from_config(self.limits))
        if isinstance(self.dispatch_rules, list):
            object.__setattr__(self, "dispatch_rules", rules_from_config(self.dispatch_rules))
        for key in ("merge_window_s", "relay_interval_s"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"cases.{key} must be positive")


@dataclass(frozen=True)
class AuthSettings:
    """`[auth]`: who may use the web app without logging in, and the session cookies."""

    anonymous: str = "viewer"  # the role of requests without credentials, or "none" to require a login
    secret: str | None = None  # signs session cookies; unset: a random one per process (logins end on restart)
    session_hours: float = 12.0
    cookie_secure: bool = False  # send cookies over HTTPS only (set it behind TLS); also turns on HSTS
    # Login rate limits (docs/operations.md#login-limits): failed logins counted over a sliding window.
    # An account with too many from addresses it was never logged into from answers 429 there until
    # the oldest falls out of the window; addresses it logged in from in the last `login_trusted_days`
    # are spared, so an attacker elsewhere cannot lock its user out. One address with too many
    # failures over all accounts answers 429 for every account.
    login_window_seconds: float = 900.0
    login_account_failures: int = 10
    login_address_failures: int = 50
    login_trusted_days: float = 30.0

    def __post_init__(self) -> None:
        for name in ("login_account_failures", "login_address_failures"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"auth.{name} must be a whole number of 1 or more")
        if not self.login_window_seconds > 0 or not self.login_trusted_days >= 0:
            raise ConfigError("auth.login_window_seconds must be positive and auth.login_trusted_days 0 or more")
        known = [str(r) for r in Role] + ["none"]
        if self.anonymous not in known:
            raise ConfigError(f"auth.anonymous: {self.anonymous!r} is not one of {', '.join(known)}")
        if self.secret is not None and len(self.secret) < 16:
            raise ConfigError("auth.secret must have at least 16 characters")
        if not self.session_hours > 0:
            raise ConfigError("auth.session_hours must be positive")


@dataclass(frozen=True)
class Settings:
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    grid: GridSettings = field(default_factory=GridSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    web: WebSettings = field(default_factory=WebSettings)
    cases: CaseSettings = field(default_factory=CaseSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    responsibility: Responsibility = field(default_factory=Responsibility)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    provisioning: ProvisioningSettings = field(default_factory=ProvisioningSettings)
    adapters: AdapterSettings = field(default_factory=AdapterSettings)
    metrics: MetricCatalog = field(default_factory=MetricCatalog.default)
    basemap: BasemapSettings = field(default_factory=BasemapSettings)

    def __post_init__(self) -> None:
        if self.basemap.tiles and self.web.tiles.lower() != "none":
            raise ConfigError("web.tiles and [[basemap.tiles]] both name tiles: keep the [[basemap.tiles]]")
        self.tile_layers()  # a bad web.tiles template is refused here, not on the first page

    def tile_layers(self) -> tuple[TileLayer, ...]:
        """The basemap's tile layers (`[[basemap.tiles]]`, or the one of `[web] tiles`)."""
        return self.basemap.tile_layers(self.web.tiles, self.web.tiles_attribution)

    def replace(self, **sections: Any) -> "Settings":
        """Copy with some keys of some sections changed: `s.replace(mqtt={"port": 1884})`."""
        changes = {name: dataclasses.replace(getattr(self, name), **values) for name, values in sections.items()}
        return dataclasses.replace(self, **changes)


_SECTIONS = ("mqtt", "store", "grid", "gateway", "web", "cases", "auth", "responsibility", "detection", "provisioning")


def _coerce(section: str, key: str, value: Any, target_type: Any) -> Any:
    type_text = str(target_type)
    try:
        if isinstance(value, str):
            if "bool" in type_text:
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if "int" in type_text:
                return int(value)
            if "float" in type_text:
                return float(value)
            return value
        if "float" in type_text and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    except ValueError:
        raise ConfigError(f"{section}.{key}: {value!r} is not a valid {type_text}") from None


def _section(cls: type, name: str, table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(table) - set(fields)
    if unknown:
        raise ConfigError(f"[{name}]: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(fields)}")
    values = {k: _coerce(name, k, v, fields[k].type) for k, v in table.items()}
    for key, f in fields.items():
        env_name = f"GRIDTWIN_{name.upper()}_{key.upper()}"
        if env_name in env:
            values[key] = _coerce(name, key, env[env_name], f.type)
    return cls(**values)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from an optional TOML file, then `GRIDTWIN_*` environment overrides."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    unknown = set(data) - set(_SECTIONS) - {"metrics", "adapters", "basemap"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    classes = {f.name: f.default_factory for f in dataclasses.fields(Settings) if f.name in _SECTIONS}
    sections = {name: _section(classes[name], name, data.get(name, {}), env) for name in _SECTIONS}
    return Settings(**sections, adapters=_adapters(data.get("adapters", {}), env),
                    metrics=MetricCatalog.from_config(data.get("metrics")),
                    basemap=basemap_from_config(data.get("basemap", {}), env))


def _adapters(table: Mapping[str, Any], env: Mapping[str, str]) -> AdapterSettings:
    """`[adapters]`: `enabled` (a list, or GRIDTWIN_ADAPTERS_ENABLED="native,ttn"), and one table per adapter."""
    if not isinstance(table, Mapping):
        raise ConfigError("[adapters] must be a table")
    enabled = table.get("enabled", ALL_ADAPTERS)
    if "GRIDTWIN_ADAPTERS_ENABLED" in env:
        enabled = [name.strip() for name in env["GRIDTWIN_ADAPTERS_ENABLED"].split(",") if name.strip()]
    if not isinstance(enabled, (list, tuple)) or not all(isinstance(name, str) for name in enabled):
        raise ConfigError("adapters.enabled must be a list of adapter names")
    options = {name: value for name, value in table.items() if name != "enabled"}
    for name, value in options.items():
        if not isinstance(value, Mapping):
            raise ConfigError(f"adapters.{name} must be a table ([adapters.{name}]); the only other key is `enabled`")
    return AdapterSettings(tuple(enabled), options)
