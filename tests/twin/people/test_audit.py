"""The audit log's hash chain: a chain verifies, and any change to a row, a removed row or a
reordering is found at the first row it breaks."""

from __future__ import annotations

import dataclasses

import pytest

from twin.errors import AuditChainBroken
from twin.people.audit import GENESIS, AuditEntry, chain, verify_chain

T0 = 1_795_939_200.123456


def entries(n: int = 4) -> list[AuditEntry]:
    return [AuditEntry(T0 + i, "dana", "file", "case", f"C-20261129-{i:04d}", "reported", "filed", f"note {i}",
                       {"n": i}, {"id": f"C-20261129-{i:04d}", "status": "filed"}) for i in range(n)]


def test_a_chain_verifies_and_ends_at_its_head():
    records = chain(GENESIS, 0, entries())
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert len({r.hash for r in records}) == 4
    assert verify_chain(records) == (4, records[-1].hash)


def test_a_chain_continues_from_a_previous_head():
    first = chain(GENESIS, 0, entries(2))
    more = chain(first[-1].hash, first[-1].seq, entries(2))
    assert [r.seq for r in more] == [3, 4]
    assert verify_chain(first + more) == (4, more[-1].hash)
    assert verify_chain(more, first[-1].hash, 2) == (2, more[-1].hash)


def test_times_are_kept_to_the_microsecond_that_stores_keep():
    (record,) = chain(GENESIS, 0, [dataclasses.replace(entries(1)[0], at=T0 + 1e-7)])
    assert record.at == round(T0 * 1e6) / 1e6


TAMPERING = [
    # a changed note
    ("note", "nothing to see"),
    # a changed actor
    ("actor", "mallory"),
    # a changed time
    ("at", T0 + 3600),
    # changed details (the stored JSON text)
    ("details", '{"n":99}'),
    # a changed snapshot
    ("snapshot", '{"id":"C-20261129-0001","status":"closed"}'),
    # a changed target status
    ("to_status", "closed"),
]


@pytest.mark.parametrize("field, value", TAMPERING)
def test_a_changed_row_breaks_the_chain_at_that_row(field, value):
    records = chain(GENESIS, 0, entries())
    records[1] = dataclasses.replace(records[1], **{field: value})
    with pytest.raises(AuditChainBroken, match="row 2") as info:
        verify_chain(records)
    assert info.value.seq == 2 and "changed" in info.value.reason


def test_a_rehashed_row_still_breaks_the_chain_at_the_next_row():
    records = chain(GENESIS, 0, entries())
    forged = chain(records[0].hash, 1, [dataclasses.replace(entries()[1], note="forged")])[0]
    records[1] = forged
    with pytest.raises(AuditChainBroken) as info:
        verify_chain(records)
    assert info.value.seq == 3


def test_a_removed_or_reordered_row_is_found():
    records = chain(GENESIS, 0, entries())
    with pytest.raises(AuditChainBroken, match="expected row 2"):
        verify_chain([records[0], records[2], records[3]])
    with pytest.raises(AuditChainBroken, match="expected row 1"):
        verify_chain(list(reversed(records)))
