"""The append-only audit log: who did what to which case or user, when, and why, as a hash chain.

Every row's hash is SHA-256 over the previous row's hash and the row's own content,
so changing, removing or reordering a stored row breaks every hash after it:

    hash(n) = sha256(hash(n-1) + "\\n" + content(n))      hash(0) = GENESIS

`content` is canonical JSON of the row (its sequence number, time in integer
microseconds, actor, action, subject, statuses, note, details and snapshot as the
exact text stored). Stores append rows one writer at a time (the chain needs the
previous hash), which also makes `seq` the commit order: readers that follow the log
by `seq > last` (the case relay) never skip a row.

A chain only proves itself back to its head: removing rows at the end leaves a
shorter, valid chain. `gridtwin audit verify` prints the head hash so it can be kept
somewhere else, and checks it again with `--expect-head`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable

import orjson

from twin.errors import AuditChainBroken

__all__ = ["AuditEntry", "AuditRecord", "GENESIS", "chain", "row_hash", "verify_chain", "canonical"]

GENESIS = "0" * 64


def canonical(value) -> str:
    """JSON text with sorted keys: the exact form details and snapshots are stored and hashed in."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change, before the store gives it its place (`seq`) and hash.

    `subject` is "case" or "user"; `subject_id` the case id or user name. For cases,
    `from_status`/`to_status` are the workflow statuses (equal for reassign, merge and
    escalate) and `snapshot` is the whole case right after the change.
    """

    at: float
    actor: str
    action: str
    subject: str
    subject_id: str
    from_status: str | None = None
    to_status: str | None = None
    note: str = ""
    details: dict = field(default_factory=dict, hash=False)
    snapshot: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored row of the audit log. `details` and `snapshot` are the JSON text as hashed."""

    seq: int
    at: float
    actor: str
    action: str
    subject: str
    subject_id: str
    from_status: str | None
    to_status: str | None
    note: str
    details: str
    snapshot: str
    hash: str

    def details_json(self) -> dict:
        return orjson.loads(self.details)

    def snapshot_json(self) -> dict:
        return orjson.loads(self.snapshot)

    def to_json(self) -> dict:
        """The row for the HTTP API (time as epoch seconds; the caller formats it)."""
        return {
            "seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action, "subject": self.subject,
            "subject_id": self.subject_id, "from_status": self.from_status, "to_status": self.to_status,
            "note": self.note, "details": self.details_json(), "hash": self.hash,
        }  # fmt: skip


def _content(seq: int, at_us: int, entry_fields: tuple, details: str, snapshot: str) -> bytes:
    actor, action, subject, subject_id, from_status, to_status, note = entry_fields
    return orjson.dumps([seq, at_us, actor, action, subject, subject_id, from_status, to_status, note,
                         details, snapshot])


def row_hash(previous: str, seq: int, at_us: int, actor: str, action: str, subject: str, subject_id: str,
             from_status: str | None, to_status: str | None, note: str, details: str, snapshot: str) -> str:
    """The hash of one row given the previous row's hash (GENESIS for the first row)."""
    content = _content(seq, at_us, (actor, action, subject, subject_id, from_status, to_status, note), details, snapshot)
    return hashlib.sha256(previous.encode("ascii") + b"\n" + content).hexdigest()


def chain(previous_hash: str, previous_seq: int, entries: Iterable[AuditEntry]) -> list[AuditRecord]:
    """Place `entries` after the row (`previous_seq`, `previous_hash`): sequence numbers and hashes.

    Times are rounded to the microsecond both stores keep, so the hash computed here is
    the one a later verification recomputes from the stored row.

    >>> first, second = chain(GENESIS, 0, [AuditEntry(1.5, "ann", "file", "case", "C-1"),
    ...                                     AuditEntry(2.0, "ann", "dispatch", "case", "C-1")])
    >>> (first.seq, second.seq), verify_chain([first, second]) == (2, second.hash)
    ((1, 2), True)
    """
    records = []
    for entry in entries:
        previous_seq += 1
        at_us = round(entry.at * 1_000_000)
        details, snapshot = canonical(entry.details or {}), canonical(entry.snapshot or {})
        previous_hash = row_hash(previous_hash, previous_seq, at_us, entry.actor, entry.action, entry.subject,
                                 entry.subject_id, entry.from_status, entry.to_status, entry.note, details, snapshot)
        records.append(AuditRecord(previous_seq, at_us / 1_000_000, entry.actor, entry.action, entry.subject,
                                   entry.subject_id, entry.from_status, entry.to_status, entry.note, details,
                                   snapshot, previous_hash))
    return records


def verify_chain(records: Iterable[AuditRecord], previous_hash: str = GENESIS, previous_seq: int = 0) -> tuple[int, str]:
    """Check rows in `seq` order from the one after (`previous_seq`, `previous_hash`).

    Returns (rows checked, hash of the last row); raises AuditChainBroken naming the
    first row whose sequence number or hash is not what the chain says.
    """
    checked = 0
    for record in records:
        if record.seq != previous_seq + 1:
            raise AuditChainBroken(record.seq, f"expected row {previous_seq + 1} next (rows removed or reordered)")
        expected = row_hash(previous_hash, record.seq, round(record.at * 1_000_000), record.actor, record.action,
                            record.subject, record.subject_id, record.from_status, record.to_status, record.note,
                            record.details, record.snapshot)
        if expected != record.hash:
            raise AuditChainBroken(record.seq, "its content does not match its hash (the row was changed)")
        previous_hash, previous_seq = record.hash, record.seq
        checked += 1
    return checked, previous_hash
