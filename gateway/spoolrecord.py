"""The spool's file format: one record of data per file, never code.

    b"GTSP" | format version (1 byte) | body length (4 bytes, big-endian) | CRC-32 of the body (4 bytes) | body

The body is msgpack (msgspec) of the spooled item. The length tells a torn record (a write the
disk kept only part of) and the checksum a corrupt one; both are BadRecord, as are a record of
another format version and a file that is no record at all.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["FORMAT_VERSION", "BadRecord", "decode_record", "encode_record", "is_pickle"]

MAGIC = b"GTSP"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sBII")  # magic, format version, body length, CRC-32 of the body


class BadRecord(ValueError):
    """A spool file that does not hold one whole, intact record of this format; says what is wrong."""


def encode_record(body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, FORMAT_VERSION, len(body), zlib.crc32(body)) + body


def decode_record(data: bytes) -> bytes:
    """The body of a record; BadRecord when it is torn, corrupt, of another version or no record at all."""
    if len(data) < _HEADER.size or not data.startswith(MAGIC):
        raise BadRecord(f"not a spool record ({len(data)} bytes, starting {data[:8]!r})")
    _, version, length, crc = _HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        raise BadRecord(f"spool record format {version}; this gateway reads format {FORMAT_VERSION}")
    body = data[_HEADER.size:]
    if len(body) != length:
        raise BadRecord(f"torn record: {len(body)} of its {length} bytes")
    if zlib.crc32(body) != crc:
        raise BadRecord("corrupt record: its checksum does not match")
    return body


def is_pickle(head: bytes) -> bool:
    """Whether a file starting with `head` is a pickle (protocol 2 or later): a spool of an earlier version."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
