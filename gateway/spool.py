"""The gateway's spool: store writes kept on disk, in order, while the store cannot take them.

When the store is unavailable (server down, connection lost, SQLite locked or its disk
full), the gateway appends each batch's write here, fsynced, and only then acknowledges
the batch's messages; live state, detection and publishing carry on. While anything is
spooled every new batch joins the spool behind it, so each device's rows reach the store
in the order they arrived, and the gateway's replay task writes the spooled batches
oldest first as soon as the store answers again, deleting each one once committed. The
spool outlives the process: a gateway that starts on a non-empty spool replays it first.

The spool is bounded (`gateway.spool_max_mb`); `append` raises SpoolFull rather than
grow past it, and the gateway then stops acknowledging and taking messages, so the
broker holds them (QoS 1, persistent session) until the replay makes room.

One file per batch, `{seq:012d}.batch`, written under a temporary name, fsynced and
renamed, so a crash mid-write leaves no half batch, only a `.tmp` file that the next
start removes. A file holds one record of data only, never code (gateway/spoolrecord.py):
the batch as msgpack, decoded into the spool's `kind` (gateway.storing.StoreBatch), framed
with a format version, its length and a checksum. A record that is shorter than its length says (torn), fails its checksum (corrupt) or is of
another format version is set aside as `.bad`, logged and counted, and the next one read.
Spools of versions before this format held pickles, which this version does not load
(unpickling runs code from the file): a gateway that finds one refuses to start, saying how
to replay it (SpoolError). The directory is private to the gateway's user (0700): the
batches hold readings and device data.

    Spool(directory, max_bytes)
      .append(item)  -> bytes written    SpoolFull when it would pass max_bytes
      .head()        -> (seq, item) | None
      .heads(limit, max_bytes) -> [(seq, item), ...]   the oldest few, for one merged write
      .remove(seq)                      after the item's write was committed
      .set_aside(seq, suffix)           keep the file, out of the queue

SpooledWriter puts the spool between the gateway's pipeline and its store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from gateway.errors import GatewayError
from gateway.spoolrecord import BadRecord, decode_record, encode_record, is_pickle
from twin.errors import StoreUnavailable

__all__ = ["Spool", "SpoolError", "SpoolFull", "SpooledWriter"]

log = logging.getLogger(__name__)

SUFFIX = ".batch"


class SpoolError(GatewayError):
    """A spool this gateway cannot use as it is; the message says what to do."""


class SpoolFull(SpoolError):
    """Appending would take the spool past its size limit; nothing was written."""


class Spool:
    """A bounded, durable FIFO of items of type `kind` (anything msgspec encodes) in `directory`;
    safe to use from two threads (one appending, one replaying). The directory is created on the
    first append."""

    def __init__(self, directory: str | os.PathLike, max_bytes: int, kind: Any = Any):
        if max_bytes <= 0:
            raise ValueError(f"a spool needs a positive size limit, not {max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(kind)
        self._lock = threading.Lock()
        self._files: deque[tuple[int, int]] = deque()  # (seq, size), oldest first
        self._bytes = 0
        self._next = 1
        self.appended = 0  # batches appended by this process
        self.replayed = 0  # batches removed after their write was committed
        self.unreadable = 0  # files set aside as `.bad` because they could not be read
        if self.directory.is_dir():
            self._scan()

    def _scan(self) -> None:
        for path in self.directory.glob("*.tmp"):
            path.unlink(missing_ok=True)  # a write a crash interrupted: never acknowledged
        found = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            try:
                found.append((int(path.stem), path.stat().st_size))
            except ValueError:
                log.warning("spool %s: ignoring %s, which is not a spool file", self.directory, path.name)
        found.sort()
        self._refuse_pickles([seq for seq, _ in found])
        self._files.extend(found)
        self._bytes = sum(size for _, size in found)
        self._next = (found[-1][0] + 1) if found else 1
        if found:
            log.warning("spool %s holds %d batch(es), %.1f MB, from an earlier run: replaying them before new ones",
                        self.directory, len(found), self._bytes / 1e6)

    def _refuse_pickles(self, seqs: list[int]) -> None:
        old = []
        for seq in seqs:
            with open(self._path(seq), "rb") as f:
                if is_pickle(f.read(2)):
                    old.append(seq)
        if old:
            raise SpoolError(
                f"spool {self.directory} holds {len(old)} batch(es) written by an earlier GridTwin version in its "
                f"old format (pickle, e.g. {self._path(old[0]).name}), which this version does not load: loading "
                "one runs code from the file. They were acknowledged to the broker and are stored nowhere else: "
                "start the earlier version once with the store reachable to replay them (it empties the spool), "
                "or move the files away to give them up; then start this version")

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:012d}{SUFFIX}"

    def _read(self, seq: int) -> Any:
        """The item in file `seq`; BadRecord (or msgspec's error) when it cannot be read."""
        return self._decoder.decode(decode_record(self._path(seq).read_bytes()))

    # -- figures ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._files)

    @property
    def bytes(self) -> int:
        return self._bytes

    # -- writing ------------------------------------------------------------------
    def append(self, item: Any) -> int:
        """Write `item` durably behind everything spooled; return its size in bytes."""
        data = encode_record(self._encoder.encode(item))
        with self._lock:
            if self._bytes + len(data) > self.max_bytes and self._files:
                raise SpoolFull(f"spool {self.directory} is full: {self._bytes / 1e6:.1f} MB held, "
                                f"limit {self.max_bytes / 1e6:.1f} MB (gateway.spool_max_mb)")
            seq = self._next
            self._next += 1
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(seq)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.directory)
        with self._lock:
            self._files.append((seq, len(data)))
            self._bytes += len(data)
            self.appended += 1
        return len(data)

    # -- replaying ----------------------------------------------------------------
    def head(self) -> tuple[int, Any] | None:
        """The oldest spooled item and its sequence number, or None when the spool is empty.
        A file that cannot be read is renamed `.bad`, logged and counted, and the next one tried."""
        while True:
            with self._lock:
                if not self._files:
                    return None
                seq, _ = self._files[0]
            path = self._path(seq)
            try:
                return seq, self._read(seq)
            except (OSError, BadRecord, msgspec.DecodeError) as exc:  # a damaged file must not block the spool
                log.error("spool %s: batch file %s cannot be read (%s); set aside as %s.bad", self.directory,
                          path.name, exc, path.stem)
                self.unreadable += 1
                self.set_aside(seq, ".bad")

    def heads(self, limit: int, max_bytes: int) -> list[tuple[int, Any]]:
        """Up to `limit` of the oldest items, oldest first, together at most `max_bytes` (at least one)."""
        with self._lock:
            chosen: list[int] = []
            total = 0
            for seq, size in self._files:
                if len(chosen) >= limit or (chosen and total + size > max_bytes):
                    break
                chosen.append(seq)
                total += size
        if not chosen:
            return []
        first = self.head()  # reads the first, setting damaged files aside
        if first is None:
            return []
        found = [first]
        for seq in chosen[1:]:
            try:
                found.append((seq, self._read(seq)))
            except (OSError, BadRecord, msgspec.DecodeError):
                break  # the next head() call deals with it
        return found

    def remove(self, seq: int) -> None:
        """Delete the item `seq` (the head) once its write is committed."""
        self._path(seq).unlink(missing_ok=True)
        self._drop(seq)
        self.replayed += 1

    def set_aside(self, seq: int, suffix: str) -> None:
        """Take the item `seq` (the head) out of the queue but keep its file, renamed with `suffix`."""
        path = self._path(seq)
        if path.exists():
            path.replace(path.with_suffix(suffix))
        self._drop(seq)

    def _drop(self, seq: int) -> None:
        with self._lock:
            if self._files and self._files[0][0] == seq:
                _, size = self._files.popleft()
                self._bytes -= size


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class SpooledWriter:
    """Writes batches to the store through `write`, or to the spool while the store is unavailable;
    `run` (one of the gateway's tasks) replays the spool oldest first when the store is back.

    `put` returns "stored" or "spooled" (either way the batch is safe and may be acknowledged), waits
    while the spool is full (the caller's back-pressure), and raises the write's own error when it
    is not StoreUnavailable: such a batch is not spooled, since writing it again would fail again.
    """

    def __init__(self, spool: Spool, write: Callable[[Any], None], *, merge: Callable[[list], Any] | None = None,
                 retry_s: float = 0.5, max_retry_s: float = 5.0, replay_batches: int = 200,
                 replay_bytes: int = 4_000_000):
        self.spool = spool
        self.write = write
        # The replay writes up to `replay_batches` spooled batches (at most `replay_bytes`) merged into
        # one by `merge`, so it catches up faster than they were spooled; each stays spooled until
        # the write that holds it is committed.
        self.merge = merge
        self.replay_batches = replay_batches if merge is not None else 1
        self.replay_bytes = replay_bytes
        self._isolate = 0  # after a merged replay was refused, replay this many batches one by one
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.stored = 0  # batches written straight to the store
        self.full_events = 0  # times the spool filled and acknowledgements stopped
        self.held_s = 0.0  # seconds batches waited for room in a full spool
        self.failed = 0  # spooled batches the store refused for good (set aside as `.failed`)
        self.outages = 0
        self.down_since: float | None = None
        self._pending = asyncio.Event()  # something to replay
        self._room = asyncio.Event()  # the replay removed a batch
        self._full_since: float | None = None
        self._replayed_at_down = 0
        if len(spool):
            self._note_down("a spool from an earlier run")
            self._pending.set()

    # -- the persisting side ---------------------------------------------------------
    async def put(self, item: Any) -> str:
        if not len(self.spool):
            try:
                await asyncio.to_thread(self.write, item)
                self.stored += 1
                return "stored"
            except StoreUnavailable as exc:
                self._note_down(str(exc))
        while True:
            # Once full, wait until the replay has emptied half of it: acknowledgements resume in
            # one go rather than flapping on and off with every batch replayed.
            if self._full_since is not None and self.spool.bytes > self.spool.max_bytes / 2:
                await self._wait_for_room()
                continue
            try:
                await asyncio.to_thread(self.spool.append, item)
                break
            except SpoolFull as exc:
                if self._full_since is None:
                    self._full_since = time.monotonic()
                    self.full_events += 1
                    log.error("%s; no longer acknowledging or taking messages: the broker holds them until the "
                              "store is back and the spool has room", exc)
                await self._wait_for_room()
        if self._full_since is not None:
            waited = time.monotonic() - self._full_since
            self.held_s += waited
            self._full_since = None
            log.warning("spool %s has room again after %.1f s; acknowledging again", self.spool.directory, waited)
        self._pending.set()
        return "spooled"

    async def _wait_for_room(self) -> None:
        self._room.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), 1.0)

    def _note_down(self, why: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            self._replayed_at_down = self.spool.replayed
            log.warning("store unavailable (%s): spooling batches to %s (limit %.1f MB) and replaying them when "
                        "it is back", why, self.spool.directory, self.spool.max_bytes / 1e6)

    # -- the replay task --------------------------------------------------------------
    async def run(self) -> None:
        """Replay spooled batches, oldest first, until cancelled; never returns."""
        delay = self.retry_s
        last_report = time.monotonic()
        while True:
            await self._pending.wait()
            limit = 1 if self._isolate else self.replay_batches
            heads = await asyncio.to_thread(self.spool.heads, limit, self.replay_bytes)
            if not heads:
                self._pending.clear()
                if self.down_since is not None and self.spool.replayed > self._replayed_at_down:
                    log.warning("store back: spool %s replayed, %d batches, %.1f s after the store became "
                                "unavailable", self.spool.directory, self.spool.replayed - self._replayed_at_down,
                                time.monotonic() - self.down_since)
                    self.down_since = None
                continue
            item = heads[0][1] if len(heads) == 1 or self.merge is None else self.merge([i for _, i in heads])
            try:
                await asyncio.to_thread(self.write, item)
            except StoreUnavailable as exc:
                if time.monotonic() - last_report > 10.0:
                    last_report = time.monotonic()
                    log.warning("store still unavailable (%s); spool %s holds %d batches, %.1f MB", exc,
                                self.spool.directory, len(self.spool), self.spool.bytes / 1e6)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            except Exception:
                if len(heads) > 1:  # find the batch the store refuses: the same ones again, one by one
                    log.warning("the store refused %d spooled batches written together; replaying them one by one",
                                len(heads), exc_info=True)
                    self._isolate = len(heads)
                    continue
                seq = heads[0][0]
                log.exception("the store refused spooled batch %d for a reason a retry will not fix; set aside "
                              "as %s/%012d.failed", seq, self.spool.directory, seq)
                self.failed += 1
                self._isolate = max(0, self._isolate - 1)
                await asyncio.to_thread(self.spool.set_aside, seq, ".failed")
                self._room.set()
                continue
            delay = self.retry_s
            self._isolate = max(0, self._isolate - len(heads))
            for seq, _ in heads:
                await asyncio.to_thread(self.spool.remove, seq)
            self._room.set()

    def figures(self) -> dict:
        return {
            "spooled_batches": len(self.spool),
            "spooled_bytes": self.spool.bytes,
            "batches_spooled_total": self.spool.appended,
            "batches_replayed_total": self.spool.replayed,
            "full_events": self.full_events,
            "held_seconds": round(self.held_s, 3),
            "unreadable": self.spool.unreadable,
            "failed": self.failed,
            "outages": self.outages,
        }
