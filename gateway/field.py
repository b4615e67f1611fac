"""The gateway's side channels from the field: device claims and mobile reports.

    {prefix}/claim/{device_id}       {"claim_code": "..."}  ->  {prefix}/claim/{device_id}/reply
    {prefix}/reports/{reporter_id}   a field report         ->  {prefix}/reports/{reporter_id}/ack

Neither is a reading, so they never reach the pipeline: `take` sets them aside from a batch
and `run` handles them in a worker thread, answers on the reply topic (which the broker's ACL
lets only that device or reporter read), and acknowledges them. A claim with a right, unused
code gets the device's configuration bundle (password included) once; the gateway then
writes the broker's password file and ACL again and reloads Mosquitto when `[provisioning]`
says where they are. A report becomes a case (twin/cases/reports.py); an invalid one is also a dead
letter with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from mqttwire.packets import Inbound
from twin.cases.reports import ReportError, file_report, parse_report
from twin.config import Settings
from twin.contract.cloudevents import dead_letter_event
from twin.errors import TwinError
from twin.people.users import Role
from twin.sensing.readings import DeadLetter

if TYPE_CHECKING:
    from twin.grid.cells import Grid
    from twin.store.base import TwinStore

log = logging.getLogger(__name__)

__all__ = ["FieldDesk"]

REPORTER_ROLES = (Role.REPORTER, Role.GRID_WORKER)


class FieldDesk:
    """Owned by the Gateway. `publish` and `ack` are the transport's."""

    def __init__(self, settings: Settings, store: TwinStore, grid: Grid, publish: Callable[..., None],
                 ack: Callable[[list[Inbound]], None], *, source: str, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.grid = grid
        self.publish = publish
        self.ack = ack
        self.source = source
        self.clock = clock
        self.prefix = settings.mqtt.prefix
        self._claim_head = f"{self.prefix}/claim/"
        self._report_head = f"{self.prefix}/reports/"
        self._heads = (self._claim_head, self._report_head)
        self._queue: asyncio.Queue[list[Inbound]] = asyncio.Queue()
        self.claims = 0
        self.reports = 0

    @property
    def filters(self) -> tuple[str, ...]:
        return (f"{self.prefix}/claim/+", f"{self.prefix}/reports/+")

    def _mine(self, topic: str) -> bool:
        if not topic.startswith(self._heads):  # one call settles the usual case, a reading
            return False
        for head in self._heads:
            if topic.startswith(head) and "/" not in topic[len(head):] and len(topic) > len(head):
                return True
        return False

    def take(self, batch: list[Inbound]) -> list[Inbound]:
        """The batch without the claims and reports, which are queued for `run`."""
        mine = [m for m in batch if self._mine(m.topic)]
        if not mine:
            return batch
        self._queue.put_nowait(mine)
        return [m for m in batch if not self._mine(m.topic)]

    async def run(self) -> None:
        while True:
            messages = await self._queue.get()
            try:
                await asyncio.to_thread(self._handle, messages)
            except Exception:
                # Not acked: the broker sends them again after a reconnect.
                log.exception("handling %d claim/report message(s) failed (first on %s)", len(messages),
                              messages[0].topic)
                continue
            self.ack(messages)

    # -- in a worker thread ----------------------------------------------------------------
    def _handle(self, messages: list[Inbound]) -> None:
        reload = False
        for message in messages:
            if message.topic.startswith(self._claim_head):
                reload |= self._claim(message, message.topic[len(self._claim_head):])
            else:
                self._report(message, message.topic[len(self._report_head):])
        if reload:
            self._write_broker_files()

    def _reply(self, topic: str, body: dict) -> None:
        self.publish(topic, orjson.dumps(body), qos=1)

    def _claim(self, message: Inbound, device_id: str) -> bool:
        from twin.devices.provisioning import ClaimRefused, device_bundle, redeem_claim_code

        reply = f"{self._claim_head}{device_id}/reply"
        if message.retain:
            return False  # a retained claim would be redeemed by every gateway that starts
        try:
            payload = orjson.loads(message.payload)
            code = payload.get("claim_code") if isinstance(payload, dict) else None
            now = self.clock()
            _account, password = redeem_claim_code(self.store, device_id, code, now=now)
            device = self.store.get_device(device_id)
            if device is None:  # redeem_claim_code found it; it was deleted since
                raise ClaimRefused("unknown_device", f"device {device_id} is not registered")
        except orjson.JSONDecodeError:
            self._reply(reply, {"error": "the claim must be JSON: {\"claim_code\": \"...\"}", "code": "malformed"})
            return False
        except ClaimRefused as exc:
            log.warning("claim of device %s on %s refused: %s", device_id, message.topic, exc)
            self._reply(reply, {"error": str(exc), "code": exc.code})
            return False
        self.claims += 1
        self._reply(reply, device_bundle(self.settings, device, password, now=now))
        log.info("device %s claimed its credentials on %s", device_id, message.topic)
        return True

    def _write_broker_files(self) -> None:
        from mqttwire.mosquitto import reload_broker, write_broker_files

        p = self.settings.provisioning
        if not p.password_file:
            log.info("a device claimed new credentials: write the broker files (`gridtwin broker config`) and "
                     "reload Mosquitto for them to work ([provisioning] password_file does it automatically)")
            return
        try:
            write_broker_files(self.store, self.prefix, now=self.clock(), password_path=p.password_file,
                               acl_path=p.acl_file)
            if p.broker_pid_file:
                reload_broker(p.broker_pid_file)
        except (OSError, TwinError) as exc:
            log.error("writing the broker files %s and %s after a claim failed: %s", p.password_file, p.acl_file,
                      exc)

    def _report(self, message: Inbound, reporter_id: str) -> None:
        ack = f"{self._report_head}{reporter_id}/ack"
        try:
            user = self.store.get_user(reporter_id)
            if user is None or user.disabled or user.role not in REPORTER_ROLES:
                raise ReportError([{"field": None, "message": f"{reporter_id} is not an enabled reporter"}],
                                  reason="unauthorized")
            try:
                payload = orjson.loads(message.payload)
            except orjson.JSONDecodeError as exc:
                raise ReportError([{"field": None, "message": f"not JSON: {exc}"}], reason="malformed_json") from None
            report = parse_report(payload, reporter_id=reporter_id, channel="mqtt", now=self.clock(), grid=self.grid)
            report = file_report(self.store, self.grid, report, responsibility=self.settings.responsibility)
        except ReportError as exc:
            log.warning("report from %s on %s refused (%s): %s", reporter_id, message.topic, exc.reason, exc)
            letter = DeadLetter(exc.reason, message.topic, message.payload, message.received_at, None, str(exc)[:500])
            self.store.write_dead_letters([letter])
            self.publish(f"{self.prefix}/deadletter/{exc.reason}", orjson.dumps(dead_letter_event(letter, self.source)),
                         qos=1)
            self._reply(ack, {"error": str(exc), "problems": exc.problems})
            return
        self.reports += 1
        self._reply(ack, {"report_id": report.id, "case_id": report.case_id, "client_ref": report.client_ref,
                          "cell_code": report.cell_code})
