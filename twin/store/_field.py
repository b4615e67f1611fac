"""MQTT accounts, device vitals, field reports and the reporters' ledger in the store: written
once for both backends.

`FieldTables` is mixed into SqliteStore and PostgresStore (what it needs of each backend:
`Tables` in twin/store/_sql.py).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from twin.cases.reports import Report, ReportView
from twin.devices.health import HOUR, DeviceVitals, Vitals
from twin.devices.mqttaccounts import AccountKind, MqttAccount
from twin.store import _sql as sql

ACCOUNT_COLUMNS = ("username", "kind", "subject", "password_hash", "created_at", "revoked_at", "applied_at",
                   "expires_at")
ACCOUNT_TIMES = ("created_at", "revoked_at", "applied_at", "expires_at")
VITALS_COLUMNS = ("device_id", "last_message_at", "battery", "rssi", "snr", "linkquality", "clock_skew_s",
                  "messages")
REPORT_COLUMNS = ("id", "reporter_id", "type", "lat", "lon", "cell_code", "received_at", "channel", "note",
                  "photo_url", "client_ref", "ts", "case_id")
REPORT_TIMES = ("received_at", "ts")
# The newest message's values win; a value it did not report keeps the one before.
_LATEST = ", ".join(
    f"{c} = CASE WHEN excluded.last_message_at >= device_vitals.last_message_at "
    f"THEN coalesce(excluded.{c}, device_vitals.{c}) ELSE coalesce(device_vitals.{c}, excluded.{c}) END"
    for c in ("battery", "rssi", "snr", "linkquality", "clock_skew_s")
)


def _account(row: Sequence) -> MqttAccount:
    values = dict(zip(ACCOUNT_COLUMNS, row))
    values["kind"] = AccountKind(values["kind"])
    return MqttAccount(**values)


def _report(row: Sequence) -> Report:
    return Report(*row)


def _markers(d: sql.Dialect, values: Sequence) -> str:
    return ", ".join(d.param for _ in values)


class FieldTables(sql.Tables):
    """The accounts, vitals and reports methods of TwinStore (see twin/store/base.py for their contracts)."""

    # -- MQTT accounts ------------------------------------------------------------------
    def _account_row(self, a: MqttAccount) -> list:
        t = self._dialect.time_in
        return [a.username, str(a.kind), a.subject, a.password_hash, t(a.created_at),
                *(None if v is None else t(v) for v in (a.revoked_at, a.applied_at, a.expires_at))]

    def put_mqtt_account(self, account: MqttAccount) -> None:
        with self.write_transaction("put_mqtt_account") as cur:
            cur.execute(sql.upsert(self._dialect, "mqtt_accounts", ACCOUNT_COLUMNS, "username"),
                        self._account_row(account))

    def _accounts(self, operation: str, conditions: list[tuple[str, object]]) -> list[MqttAccount]:
        d = self._dialect
        clause, params = sql.where(d, conditions)
        query = (f"SELECT {sql.select_list(d, ACCOUNT_COLUMNS, ACCOUNT_TIMES)} FROM mqtt_accounts{clause} "
                 "ORDER BY username")
        return [_account(r) for r in self._fetch(operation, (query, params))]

    def get_mqtt_account(self, username: str) -> MqttAccount | None:
        found = self._accounts("get_mqtt_account", [("username = {}", username)])
        return found[0] if found else None

    def list_mqtt_accounts(self, *, subject: str | None = None, kind: AccountKind | None = None,
                           include_revoked: bool = False) -> list[MqttAccount]:
        conditions = [("subject = {}", subject), ("kind = {}", None if kind is None else str(kind))]
        accounts = self._accounts("list_mqtt_accounts", conditions)
        return accounts if include_revoked else [a for a in accounts if a.revoked_at is None]

    def revoke_mqtt_accounts(self, subject: str, now: float, kinds: Iterable[AccountKind] = ()) -> list[str]:
        d = self._dialect
        kinds = [str(k) for k in kinds]
        query = f"UPDATE mqtt_accounts SET revoked_at = {d.param} WHERE subject = {d.param} AND revoked_at IS NULL"
        params: list = [d.time_in(now), subject]
        if kinds:
            query += f" AND kind IN ({_markers(d, kinds)})"
            params += kinds
        before = [a.username for a in self.list_mqtt_accounts(subject=subject)
                  if not kinds or str(a.kind) in kinds]
        with self.write_transaction("revoke_mqtt_accounts") as cur:
            cur.execute(query, params)
        return before

    def redeem_claim(self, claim_username: str, account: MqttAccount, now: float) -> bool:
        d = self._dialect
        p = d.param
        with self.write_transaction("redeem_claim") as cur:
            cur.execute(
                f"UPDATE mqtt_accounts SET revoked_at = {p} WHERE username = {p} AND kind = {p} "
                f"AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > {p})",
                [d.time_in(now), claim_username, str(AccountKind.CLAIM), d.time_in(now)],
            )
            if cur.rowcount != 1:
                return False
            cur.execute(sql.upsert(d, "mqtt_accounts", ACCOUNT_COLUMNS, "username"), self._account_row(account))
        return True

    def mark_mqtt_accounts_applied(self, usernames: Sequence[str], now: float) -> None:
        d = self._dialect
        with self.write_transaction("mark_mqtt_accounts_applied") as cur:
            cur.executemany(f"UPDATE mqtt_accounts SET applied_at = {d.param} WHERE username = {d.param}",
                            [(d.time_in(now), u) for u in usernames])

    # -- device vitals --------------------------------------------------------------------
    def record_vitals(self, vitals: Iterable[Vitals]) -> None:
        merged: dict[str, Vitals] = {}
        for v in vitals:
            merged[v.device_id] = merged[v.device_id].merge(v) if v.device_id in merged else v
        if not merged:
            return
        d = self._dialect
        latest = sql.insert(d, "device_vitals", VITALS_COLUMNS) + (
            " ON CONFLICT (device_id) DO UPDATE SET "
            "messages = device_vitals.messages + excluded.messages, "
            "last_message_at = CASE WHEN excluded.last_message_at >= device_vitals.last_message_at "
            "THEN excluded.last_message_at ELSE device_vitals.last_message_at END, " + _LATEST)
        traffic = sql.insert(d, "device_traffic", ("device_id", "hour", "messages")) + (
            " ON CONFLICT (device_id, hour) DO UPDATE SET messages = device_traffic.messages + excluded.messages")
        rows = sorted(merged.values(), key=lambda v: v.device_id)  # one lock order for concurrent writers
        with self.write_transaction("record_vitals") as cur:
            cur.executemany(latest, [(v.device_id, d.time_in(v.at), v.battery, v.rssi, v.snr, v.linkquality,
                                      v.clock_skew_s, int(v.messages)) for v in rows])
            cur.executemany(traffic, [(v.device_id, int(v.at // HOUR), int(v.messages)) for v in rows])

    def device_vitals(self, device_id: str, now: float) -> DeviceVitals | None:
        d = self._dialect
        p = d.param
        rows = self._fetch("device_vitals", (
            f"SELECT {sql.select_list(d, VITALS_COLUMNS, ('last_message_at',))} FROM device_vitals "
            f"WHERE device_id = {p}", [device_id]))
        if not rows:
            return None
        hour = int(now // HOUR)
        counts = dict(self._fetch("device_vitals", (
            f"SELECT hour, messages FROM device_traffic WHERE device_id = {p} AND hour >= {p} AND hour <= {p}",
            [device_id, hour - 1, hour])))
        # The current hour so far, and the part of the previous one that is within the last hour.
        into = (now - hour * HOUR) / HOUR
        last_hour = counts.get(hour, 0) + counts.get(hour - 1, 0) * (1.0 - into)
        return DeviceVitals(*rows[0][:7], int(rows[0][7]), last_hour)

    def dead_letter_stats(self, device_id: str) -> dict[str, tuple[int, float]]:
        d = self._dialect
        rows = self._fetch("dead_letter_stats", (
            f"SELECT reason, count(*), {d.time_out('max(received_at)')} FROM dead_letters "
            f"WHERE device_id = {d.param} GROUP BY reason ORDER BY reason", [device_id]))
        return {reason: (int(count), float(last)) for reason, count, last in rows}

    # -- field reports ------------------------------------------------------------------------
    def put_report(self, report: Report) -> bool:
        d = self._dialect
        t = d.time_in
        r = report
        row = [r.id, r.reporter_id, r.type, r.lat, r.lon, r.cell_code, t(r.received_at), r.channel, r.note,
               r.photo_url, r.client_ref, None if r.ts is None else t(r.ts), r.case_id]
        with self.write_transaction("put_report") as cur:
            cur.execute(sql.insert_new(d, "reports", REPORT_COLUMNS), row)
            return cur.rowcount == 1

    def set_report_case(self, report_id: str, case_id: str) -> None:
        p = self._dialect.param
        with self.write_transaction("set_report_case") as cur:
            cur.execute(f"UPDATE reports SET case_id = {p} WHERE id = {p}", [case_id, report_id])

    def _reports(self, operation: str, conditions: list, limit: int = 1000) -> list[ReportView]:
        d = self._dialect
        clause, params = sql.where(d, conditions)
        columns = sql.select_list(d, REPORT_COLUMNS, REPORT_TIMES, table="r")
        query = (f"SELECT {columns}, c.status, l.points FROM reports r LEFT JOIN cases c ON c.id = r.case_id "
                 f"LEFT JOIN reporter_ledger l ON l.report_id = r.id{clause} "
                 f"ORDER BY r.received_at DESC, r.id LIMIT {d.param}")
        rows = self._fetch(operation, (query, [*params, int(limit)]))
        return [ReportView(_report(row[:-2]), row[-2], None if row[-1] is None else int(row[-1])) for row in rows]

    def get_report(self, report_id: str) -> ReportView | None:
        found = self._reports("get_report", [("r.id = {}", report_id)])
        return found[0] if found else None

    def find_report(self, reporter_id: str, client_ref: str) -> Report | None:
        found = self._reports("find_report", [("r.reporter_id = {}", reporter_id), ("r.client_ref = {}", client_ref)])
        return found[0].report if found else None

    def list_reports(self, *, reporter_id: str | None = None, case_id: str | None = None,
                     limit: int = 100) -> list[ReportView]:
        return self._reports("list_reports", [("r.reporter_id = {}", reporter_id), ("r.case_id = {}", case_id)],
                             limit)

    def settle_reports(self, now: float, points: int) -> int:
        d = self._dialect
        p = d.param
        query = (
            "INSERT INTO reporter_ledger (report_id, reporter_id, district, cell_code, points, at) "
            f"SELECT r.id, r.reporter_id, substr(r.cell_code, 1, 6), r.cell_code, {p}, {p} "
            "FROM reports r JOIN cases c ON c.id = r.case_id "
            "WHERE c.filed_at IS NOT NULL AND coalesce(c.cancel_reason, '') <> 'false_alarm' "
            "ON CONFLICT DO NOTHING")
        with self.write_transaction("settle_reports") as cur:
            cur.execute(query, [int(points), d.time_in(now)])
            return max(cur.rowcount, 0)

    def leaderboard(self, district: str | None = None, limit: int = 50) -> list[tuple[str, int, int]]:
        d = self._dialect
        clause, params = sql.where(d, [("district = {}", district)])
        query = (f"SELECT reporter_id, sum(points), count(*) FROM reporter_ledger{clause} "
                 f"GROUP BY reporter_id ORDER BY sum(points) DESC, reporter_id LIMIT {d.param}")
        return [(r[0], int(r[1]), int(r[2])) for r in self._fetch("leaderboard", (query, [*params, int(limit)]))]
