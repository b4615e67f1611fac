"""`gridtwin audit verify`: check the audit log's hash chain from its first row to its head.

Prints the number of rows and the head (the last row's seq and hash). Keep the head
somewhere else (a ticket, another server): a later `--expect-head HASH` then also
proves that no rows were removed from the end, which a chain alone cannot show.
Exit status 0 when the log verifies, 1 when it does not.
"""

from __future__ import annotations

from gridtwin.cli import add_config_argument
from twin.config import load_settings
from twin.errors import AuditChainBroken
from twin.people.audit import GENESIS, verify_chain

PAGE = 10_000


def register(sub) -> None:
    p = sub.add_parser("audit", help="audit log checks")
    actions = p.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="verify the audit log's hash chain",
                                description=__doc__.split("\n\n")[0])
    verify.add_argument("--expect-head", metavar="HASH", help="the head hash recorded earlier: it must still be in "
                        "the log (a seq:hash pair or the hash alone)")
    verify.add_argument("--store", metavar="URL", help="store URL (overrides store.url)")
    add_config_argument(verify)
    verify.add_argument("--json", action="store_true", help="print {ok, rows, head_seq, head_hash, error} as JSON")
    verify.set_defaults(func=run_verify)


def run_verify(args, console) -> int:
    from twin.store import open_store, redact

    url = args.store or load_settings(args.config).store.url
    rows, head_seq, head_hash, error = 0, 0, GENESIS, None
    expected = (args.expect_head or "").rpartition(":")[2] or None
    seen_expected = expected is None
    with open_store(url) as store:
        try:
            while True:
                page = store.audit_log(after_seq=head_seq, limit=PAGE)
                if not page:
                    break
                checked, head_hash = verify_chain(page, head_hash, head_seq)
                rows += checked
                head_seq = page[-1].seq
                seen_expected = seen_expected or any(r.hash == expected for r in page)
        except AuditChainBroken as exc:
            error = str(exc)
    if error is None and not seen_expected:
        error = (f"the expected head {expected} is not in the log, which now ends at row {head_seq}: "
                 "rows were removed from its end, or the log was rewritten")
    result = {"ok": error is None, "store": redact(url), "rows": rows, "head_seq": head_seq,
              "head_hash": head_hash if rows else None, "error": error}
    if error is not None:
        console.error(error)
        console.result(result)
        return 1
    console.result(result, f"audit log of {redact(url)} verifies: {rows} rows; head {head_seq}:{head_hash}")
    return 0
