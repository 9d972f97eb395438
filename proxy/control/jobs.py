"""Prefetch jobs: fetch every file a snapshot lists through the normal read path.

A job resolves each file with ``Cache.resolve`` and the file's own key, exactly as the adapter's
route would, so it joins fills that live clients started (and they join its fills): one upstream
download per file, whoever asks first. Jobs are tasks owned by ``Jobs`` and cancelled at shutdown;
their state lives in memory on the node that runs them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from proxy.control.catalog import Snapshot, SnapshotFile
from proxy.fill.state import Fill, FillState
from proxy.observe.metrics import Metrics
from proxy.read.driver import Cache, Hit
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)

KEEP_FINISHED = 1000
JobState = Literal["resolving", "running", "succeeded", "failed"]


class JobError(BaseModel):
    path: str
    """The file that failed; empty when the job itself failed (its listing, or shutdown)."""
    error: str


class JobView(BaseModel):
    """What the control API answers for a job."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    pin: bool
    state: JobState
    version: str | None
    files_total: int
    files_done: int
    files_cached: int
    bytes_total: int
    bytes_done: int
    rate_bytes_per_second: int
    errors: list[JobError]
    started_at: float
    finished_at: float | None


@dataclass
class Job:
    id: str
    url: str
    pin: bool
    state: JobState = "resolving"
    version: str | None = None
    files_total: int = 0
    files_done: int = 0
    files_cached: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    active: dict[str, Fill] = field(default_factory=dict)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def progress_bytes(self) -> int:
        return self.bytes_done + sum(f.written for f in self.active.values() if f.state is FillState.STREAMING)

    def view(self) -> JobView:
        end = self.finished_at or time.time()
        done = self.progress_bytes()
        elapsed = max(end - self.started_at, 1e-6)
        return JobView.model_validate({
            "id": self.id, "url": self.url, "pin": self.pin, "state": self.state, "version": self.version,
            "files_total": self.files_total, "files_done": self.files_done, "files_cached": self.files_cached,
            "bytes_total": self.bytes_total, "bytes_done": done, "rate_bytes_per_second": round(done / elapsed),
            "errors": self.errors, "started_at": self.started_at, "finished_at": self.finished_at})

    def to_json(self) -> dict[str, object]:
        return self.view().model_dump(mode="json")


class Jobs:
    """This node's prefetch jobs. Owns their tasks."""

    def __init__(self, cache: Cache, metrics: Metrics, concurrency: int,
                 on_finished: Callable[[Job], Awaitable[None]] | None = None) -> None:
        self._cache = cache
        self._metrics = metrics
        self._concurrency = concurrency
        self._on_finished = on_finished
        self._jobs: dict[str, Job] = {}
        self._tasks = OwnedTasks("prefetch jobs")

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.started_at)

    def start(self, url: str, pin: bool, listing: Callable[[], Awaitable[tuple[Snapshot, tuple[SnapshotFile, ...]]]]
              ) -> Job:
        """Start a job for ``url``; ``listing`` resolves the snapshot and the files to fetch."""
        job = Job(secrets.token_hex(8), url, pin)
        self._jobs[job.id] = job
        self._forget_old()
        self._tasks.start(self._run(job, listing), name=f"prefetch {url}")
        return job

    async def _run(self, job: Job, listing: Callable[[], Awaitable[tuple[Snapshot, tuple[SnapshotFile, ...]]]]
                   ) -> None:
        try:
            snapshot, files = await listing()
            job.version = snapshot.version
            job.files_total = len(files)
            job.bytes_total = sum(f.size or 0 for f in files)
            job.state = "running"
            limit = asyncio.Semaphore(self._concurrency)
            await asyncio.gather(*(self._one(job, f, limit) for f in files))
        except asyncio.CancelledError:
            job.errors.append({"path": "", "error": "cancelled (shutdown)"})
            raise
        except Exception as exc:
            job.errors.append({"path": "", "error": str(exc) or repr(exc)})
        finally:
            job.state = "failed" if job.errors else "succeeded"
            job.finished_at = time.time()
            self._metrics.prefetch_jobs.labels(job.state).inc()
            log.info("prefetch finished", extra={"job": job.id, "url": job.url, "state": job.state,
                                                 "files": job.files_done, "bytes": job.bytes_done,
                                                 "errors": len(job.errors)})
            job.finished.set()
        if self._on_finished is not None:
            await self._on_finished(job)

    async def _one(self, job: Job, file: SnapshotFile, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                size, fetched = await self._fetch(job, file)
            except Exception as exc:
                job.errors.append({"path": file.path, "error": str(exc) or repr(exc)})
                return
            job.files_done += 1
            job.bytes_done += size
            job.files_cached += 0 if fetched else 1
            self._metrics.prefetch_bytes.labels("fetched" if fetched else "cached").inc(size)

    async def _fetch(self, job: Job, file: SnapshotFile) -> tuple[int, bool]:
        """Size of the file, and whether this job's read went to a fill (rather than a local hit)."""
        async with self._cache.resolve(file.source, file.max_age) as resolved:
            if isinstance(resolved, Hit):
                return resolved.size, False
            fill = resolved.fill
            job.active[file.path] = fill
            try:
                await fill.done()
                return fill.written, True
            finally:
                job.active.pop(file.path, None)

    def _forget_old(self) -> None:
        finished = [j for j in self.all() if j.finished_at is not None]
        for job in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job.id]

    async def close(self) -> None:
        await self._tasks.close()
