"""Fill: one upstream download per key, readable while it is written, on this node or another.

A fill is an asyncio task owned by ``Fills`` (never by the response of the client that caused
it), so a client that goes away does not cancel it. On each node a key has at most one ``Fill``;
across the cluster one node leads it (``proxy.fill.leader``: holds the lease, writes the temp file on
the shared volume) and the others follow it (``proxy.fill.follower``: learn the temp file and its
progress from events and tail it). Either way, readers here tail the growing temp file and are
woken on every change. The last byte of the file is held back from readers until the blob is
verified and committed, so a reader of a bad download sees an aborted response, never a clean end.
"""

from __future__ import annotations

import asyncio
import enum
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from proxy.errors import FillFailed
from proxy.fill.landed import Landed
from proxy.storage.index import IndexEntry
from proxy.storage.writer import BlobInfo
from proxy.upstream import ObjectMeta, Source

READ_CHUNK = 1 << 20
LAG_POLL = 0.1
"""Seconds between reads of a file that showed fewer bytes than announced (``Fill.lagged``)."""
LAG_LIMIT = 60.0
"""How long such a file may lag before its readers fail: longer than any attribute cache (NFS acregmax)."""


class FillState(enum.Enum):
    PENDING = "pending"  # waiting for the upstream's answer (or the leader's)
    STREAMING = "streaming"  # metadata known, bytes landing
    COMMITTED = "committed"  # verified, in blobs/ and the index
    NOT_MODIFIED = "not_modified"  # a revalidation found the cached version current
    FAILED = "failed"


class TurnEnd(enum.Enum):
    """How this node's turn at a fill ended, leading or following: what ``run_fill`` does next."""

    DONE = "done"  # the fill ended (committed, revalidated); failures raise
    LOST = "lost"  # this node no longer leads: follow whoever does
    GONE = "gone"  # the leader went away: try to lead


class IllegalTransition(RuntimeError):
    """A fill was told to move where its state cannot go (e.g. anything after it ended)."""


class Fill:
    """One key's fill as this node sees it. Its fields are read by anyone and changed only by the
    transition methods below (by whoever runs the fill: ``proxy.fill.leader``, ``proxy.fill.follower``,
    ``proxy.fill.registry``); each transition wakes every waiting reader.

    PENDING -> STREAMING (-> STREAMING, the bytes moved) -> COMMITTED; PENDING -> COMMITTED (a
    follower that only saw the end); PENDING -> NOT_MODIFIED; any of PENDING, STREAMING -> FAILED.
    COMMITTED, NOT_MODIFIED and FAILED are final.
    """

    def __init__(self, source: Source, stale: IndexEntry | None) -> None:
        self.key = source.key
        self.source = source
        self.stale = stale
        self.state = FillState.PENDING
        self.meta: ObjectMeta | None = None
        self.entry: IndexEntry | None = None
        self.blob: BlobInfo | None = None
        self.error: BaseException | None = None
        self.written = 0
        self.tmp_path: Path | None = None
        """The temp file the bytes land in (this node's, or the leader's on the shared volume)."""
        self.lead_token: int | None = None
        """The fencing token while this node leads the fill under a lease (set by ``proxy.fill.lease``):
        the token peers must name to stream it from here (``proxy.fill.feed``)."""
        self.landed: Landed | None = None
        """A segmented fill led here: the ranges on disk, beyond ``written`` too."""
        self._waiting: Counter[int] = Counter()
        self.started = time.monotonic()
        self._changed = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self.state in (FillState.COMMITTED, FillState.NOT_MODIFIED, FillState.FAILED)

    @property
    def size(self) -> int | None:
        if self.state is FillState.COMMITTED:
            return self.written
        return self.meta.size if self.meta else None

    # -- transitions ---------------------------------------------------------------------------

    def streaming(self, meta: ObjectMeta, tmp_path: Path | None = None, written: int = 0,
                  landed: Landed | None = None) -> None:
        """The upstream's metadata is known and the bytes land in ``tmp_path``, ``written`` of them so
        far. A new ``tmp_path`` (the fill moved to another temp file, e.g. after a takeover) starts
        over at ``written``; the same one only moves ``written`` forward (announcements may arrive
        out of order); None keeps the file, if any, that was announced before. ``landed``: this
        node leads a segmented fill; its ranges beyond ``written`` may be read too."""
        self._leave(FillState.PENDING, FillState.STREAMING, to=FillState.STREAMING)
        self.meta = meta
        self.landed = landed
        if tmp_path is not None and tmp_path != self.tmp_path:
            self.tmp_path, self.written = tmp_path, written
        elif tmp_path is not None:
            self.written = max(self.written, written)
        self.state = FillState.STREAMING
        self._notify()

    def progressed(self, written: int) -> None:
        """``written`` bytes of the temp file are on disk now (or, the same ``written``: more of
        ``landed`` is)."""
        self._leave(FillState.STREAMING, to=FillState.STREAMING)
        if written < self.written:
            raise IllegalTransition(f"fill of {self.key}: written cannot go back from {self.written} to {written}")
        self.written = written
        self._notify()

    def committed(self, blob: BlobInfo, entry: IndexEntry) -> None:
        """Verified and committed: the bytes are ``blob``, recorded in the index as ``entry``."""
        self._leave(FillState.PENDING, FillState.STREAMING, to=FillState.COMMITTED)
        self.meta = self.meta or entry.meta()
        self.blob, self.entry, self.written = blob, entry, blob.size
        self.state = FillState.COMMITTED
        self._notify()

    def not_modified(self, entry: IndexEntry) -> None:
        """A revalidation found the cached version current; ``entry`` is its refreshed index entry."""
        self._leave(FillState.PENDING, FillState.STREAMING, to=FillState.NOT_MODIFIED)
        self.entry = entry
        self.state = FillState.NOT_MODIFIED
        self._notify()

    def failed(self, error: BaseException) -> None:
        """The fill ended without a result; readers get ``error``."""
        self._leave(FillState.PENDING, FillState.STREAMING, to=FillState.FAILED)
        self.error = error
        self.state = FillState.FAILED
        self._notify()

    def _leave(self, *allowed: FillState, to: FillState) -> None:
        if self.state not in allowed:
            raise IllegalTransition(f"fill of {self.key}: cannot go from {self.state.value} to {to.value}")

    def _notify(self) -> None:
        """Wake every reader: state, ``written``, ``tmp_path`` or ``blob`` changed."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # -- waiting and reading -------------------------------------------------------------------

    async def ready(self) -> None:
        """Wait until the upstream's metadata is known or the fill has ended."""
        while self.state is FillState.PENDING:
            await self._changed.wait()

    async def done(self) -> IndexEntry:
        """Wait until the fill has ended; raise its error, or return the index entry it committed
        (or found current)."""
        while not self.finished:
            await self._changed.wait()
        if self.error is not None:
            raise self.error
        assert self.entry is not None
        return self.entry

    def waiting(self) -> list[int]:
        """The positions readers here wait at, most wanted first: where a segmented fill goes next."""
        return [pos for pos, _ in self._waiting.most_common()]

    def has(self, start: int, end: int) -> bool:
        """Whether bytes [start, end) are on disk and may be read now."""
        return self._readable(start, end) >= end

    def _readable(self, pos: int, end: int | None, landed: bool = False) -> int:
        """How far a reader at ``pos`` whose range ends at ``end`` (None: end of file) may read now;
        with ``landed``, every byte landed so far (the final one too, before verification)."""
        if self.state is FillState.COMMITTED:
            return self.written if end is None else end
        reach = self.written
        if self.landed is not None and pos > reach:
            reach = self.landed.reach(pos)  # a segment beyond the prefix has landed
        if landed:
            return reach if end is None else min(end, reach)
        size = self.meta.size if self.meta else None
        if end is not None and size is not None and end < size:
            return min(end, reach)
        if size is not None:
            return min(reach, size - 1)  # hold the final byte until verified
        return max(0, reach - 1)

    async def read(self, start: int, end: int | None, *, landed: bool = False) -> AsyncIterator[bytes]:
        """Bytes [start, end) as they land, in chunks of at most READ_CHUNK. Raises FillFailed if
        the fill fails meanwhile."""
        async for fd, offset, count in self.spans(start, end, landed=landed):
            pos, stop, since = offset, offset + count, 0.0
            while pos < stop:
                # Bytes just written are in the page cache: a pread here is a memory copy,
                # cheaper than an executor hop per chunk per reader.
                data = os.pread(fd, min(READ_CHUNK, stop - pos), pos)
                if not data:
                    since = since or time.monotonic()
                    await self.lagged(pos, since)
                    continue
                pos, since = pos + len(data), 0.0
                yield data

    async def lagged(self, pos: int, since: float) -> None:
        """The file showed fewer bytes at ``pos`` than announced, since ``since`` (monotonic):
        another node's temp file seen through a mount that caches attributes (NFS, EFS, FUSE)
        lags its writer. Wait a moment for the view to catch up; FillFailed once the fill failed,
        or after ``LAG_LIMIT`` seconds."""
        if self.state is FillState.FAILED:
            raise FillFailed(f"fill of {self.key} failed: {self.error}") from self.error
        if time.monotonic() - since > LAG_LIMIT:
            raise FillFailed(f"{self.key}: file shorter than announced at byte {pos}")
        await asyncio.sleep(LAG_POLL)

    async def spans(self, start: int, end: int | None, *,
                    landed: bool = False) -> AsyncIterator[tuple[int, int, int]]:
        """``(fd, offset, count)`` for bytes [start, end) as they land, in order and without gaps;
        the consumer takes all ``count`` bytes (e.g. with sendfile) before asking for the next
        span, and ``fd`` stays open until then. Raises FillFailed if the fill fails meanwhile.

        The reader follows the file: the temp file while streaming (reopened when the fill moves
        to another temp file, e.g. after a takeover that had to start over), the blob once
        committed. Opens happen on the event loop thread, so state cannot change under them.
        """
        fd, current = -1, None
        try:
            pos = start
            while True:
                changed = self._changed
                if self.state is FillState.FAILED:
                    raise FillFailed(f"fill of {self.key} failed: {self.error}") from self.error
                want = self.blob.path if self.blob is not None else self.tmp_path
                if want is None and self.finished:
                    raise FillFailed(f"fill of {self.key} has no bytes to read ({self.state.value})")
                if want != current:
                    opened = _open(want)
                    if opened < 0:
                        if self.blob is not None:
                            raise FillFailed(f"blob of {self.key} vanished")
                        await changed.wait()  # moved or not there yet: a new path will be announced
                        continue
                    if fd >= 0:
                        os.close(fd)
                    fd, current = opened, want
                limit = self._readable(pos, end, landed)
                if pos < limit:
                    yield fd, pos, limit - pos
                    pos = limit
                    continue
                if pos == end or (end is None and self.state is FillState.COMMITTED):
                    return  # the final byte of a file only becomes readable once it is committed
                self._waiting[pos] += 1  # a segmented fill fetches what readers wait for first
                try:
                    await changed.wait()
                finally:
                    self._waiting[pos] -= 1
                    if not self._waiting[pos]:
                        del self._waiting[pos]
        finally:
            if fd >= 0:
                os.close(fd)


def _open(path: Path | None) -> int:
    if path is None:
        return -1
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return -1
