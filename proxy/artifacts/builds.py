"""Builds once per cluster: requests as records on the volume, one builder per key under a lease.

A request (``POST /v1/builds``) writes a ``builds/`` record, ``pending``. Build workers
(``modelmanager build-worker``) poll a proxy for work (``claim``): for a pending record whose
recipe and target the worker offers, the proxy takes the coordinator's lease ``build:<key>``
*for* the worker (Redis in a cluster: one holder per key across pods, whatever the number of
requesters) and hands it the fencing token. The worker renews the lease through the proxy while
it builds; a worker that dies stops renewing, the lease expires, and the next claim takes the
build over under a new token. The output comes back by ``PUT /v1/artifacts/{key}``, which
removes the record; a failure (``fail``, checked against the token) is written to the record with
the builder's log tail, so every waiter, on any pod, gets it. A failed build stays failed for
``failure_ttl`` seconds (``--build-failure-ttl``); the first request after that, or one with
``retry``, starts a fresh build.

A pending build whose recipe and target no live worker offers (none claimed or renewed within
``BUILDER_SEEN``) is shown as ``no_worker``, with the targets live workers do offer: waiters are
answered at once instead of at their timeout. The record stays: a worker that offers it later
builds it.

Waiters (``wait``) watch the index and the record, woken early by events on ``build:<key>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proxy.artifacts.key import Manifest
from proxy.artifacts.store import Artifact, ArtifactStore
from proxy.cluster.port import Coordinator, FillEvent, Lease
from proxy.digest import Digest
from proxy.errors import CoordinationUnavailable
from proxy.observe.metrics import Metrics
from proxy.storage.records import RecordStore

LOG_TAIL = 8192
"""Bytes of a failed build's log kept and shown to waiters."""
BUILDER_SEEN = 120.0
"""Seconds a worker counts as present after its last claim (for targets a request may leave out)."""
BUILDER_FORGOTTEN = 86400.0
"""Seconds after which a worker's record is removed (the next time targets are looked up)."""
POLL = 0.5

State = Literal["pending", "building", "failed"]


class BuildRecord(BaseModel):
    """A ``builds/`` record: what is to be built, and how far it got."""

    model_config = ConfigDict(frozen=True)

    key: str
    manifest: Manifest
    names: tuple[str, ...] = ()
    state: State = "pending"
    requested_at: float
    attempts: int = 0
    worker: str | None = None
    token: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    log_tail: str | None = None


class BuildView(BaseModel):
    """What ``POST /v1/builds`` and ``GET /v1/builds/{key}`` answer."""

    model_config = ConfigDict(frozen=True)

    key: str
    state: Literal["ready", "pending", "building", "failed", "unknown", "no_worker"]
    manifest: Manifest | None = None
    worker: str | None = None
    attempts: int = 0
    error: str | None = None
    log_tail: str | None = None
    artifact: dict[str, Any] | None = Field(None, description="The stored artifact (state ready)")
    offered: list[dict[str, str]] | None = Field(None, description="State no_worker: the targets live build "
                                                 "workers offer for this recipe (none offers this one)")


class Claim(BaseModel):
    """A build handed to a worker: build ``manifest`` and upload it; renew with ``token`` meanwhile."""

    model_config = ConfigDict(frozen=True)

    key: str
    token: int
    ttl: float
    manifest: Manifest
    names: tuple[str, ...]


class Builder(BaseModel):
    model_config = ConfigDict(frozen=True)

    worker: str
    offers: dict[str, dict[str, str]]
    seen_at: float


class Builds:
    def __init__(self, records: RecordStore, builders: RecordStore, artifacts: ArtifactStore,
                 coordinator: Coordinator, lease_ttl: float, metrics: Metrics, failure_ttl: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.failure_ttl = failure_ttl
        self._records = records
        self._metrics = metrics
        self._builders = builders
        self.artifacts = artifacts
        self._coordinator = coordinator
        self.lease_ttl = lease_ttl
        self._clock = clock
        self._stopping = False

    def stop(self) -> None:
        """The server is stopping: long polls (``wait``, ``claim``) answer within ``POLL`` seconds
        with what there is now, so they do not hold the shutdown's drain (workers ask another pod)."""
        self._stopping = True

    # -- records ------------------------------------------------------------------------------

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _read(self, key: str) -> BuildRecord | None:
        path = self._records.layout.control("builds", key)
        try:
            return BuildRecord.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None

    def _put(self, record: BuildRecord) -> None:
        self._records.put(record.key, record.model_dump(mode="json"))

    def _all(self) -> list[BuildRecord]:
        found = []
        for data in self._records.all():
            with contextlib.suppress(ValidationError):
                found.append(BuildRecord.model_validate(data))
        return sorted(found, key=lambda r: r.requested_at)

    async def records(self) -> list[BuildRecord]:
        found: list[BuildRecord] = await self._io(self._all)
        return found

    # -- requesters ---------------------------------------------------------------------------

    async def request(self, manifest: Manifest, names: tuple[str, ...], *, retry: bool = False) -> BuildView:
        """Ask for ``manifest`` to be built (nothing happens if it is stored or already asked for)."""
        key = manifest.key.hex
        if (artifact := await self.artifacts.get(manifest.key)) is not None:
            return ready(artifact)
        record: BuildRecord | None = await self._io(self._read, key)
        if record is None or (record.state == "failed" and (retry or self._expired(record))):
            record = BuildRecord(key=key, manifest=manifest, names=names, requested_at=self._clock(),
                                 attempts=record.attempts if record else 0)
            await self._io(self._put, record)
            self._metrics.builds_requested.labels(manifest.recipe.name).inc()
        return await self.staffed(view(record))

    def _expired(self, failed: BuildRecord) -> bool:
        """A failure older than ``failure_ttl``: the next request builds again."""
        return self._clock() - (failed.finished_at or failed.requested_at) >= self.failure_ttl

    async def state(self, key: Digest) -> BuildView:
        if (artifact := await self.artifacts.get(key)) is not None:
            return ready(artifact)
        record: BuildRecord | None = await self._io(self._read, key.hex)
        if record is None and (artifact := await self.artifacts.get(key)) is not None:
            return ready(artifact)  # stored (and its record removed) between the two looks
        return await self.staffed(view(record)) if record is not None else BuildView(key=key.hex, state="unknown")

    async def staffed(self, pending: BuildView, known: dict[str, list[dict[str, str]]] | None = None) -> BuildView:
        """``pending``, or ``no_worker`` (with the targets offered) when no live worker offers its target.
        ``known``: the targets offered, by recipe, as looked up so far (one look per recipe for a list)."""
        if pending.state != "pending" or pending.manifest is None:
            return pending
        recipe = pending.manifest.recipe.name
        offered = known.get(recipe) if known is not None else None
        if offered is None:
            offered = await self.targets(recipe)
            if known is not None:
                known[recipe] = offered
        if pending.manifest.target in offered:
            return pending
        return pending.model_copy(update={"state": "no_worker", "offered": offered})

    async def wait(self, key: Digest, within: float) -> BuildView:
        """The build's state once it is stored or failed, at once when no live worker offers its target
        (``no_worker``), or when ``within`` seconds passed."""
        deadline = time.monotonic() + within
        subscription = self._coordinator.subscribe(channel(key.hex))
        self._metrics.build_waiters.inc()
        try:
            while True:
                current = await self.state(key)
                remaining = deadline - time.monotonic()
                if current.state in ("ready", "failed", "unknown", "no_worker") or remaining <= 0 or self._stopping:
                    return current
                await subscription.get(within=min(POLL, remaining))
        finally:
            self._metrics.build_waiters.dec()
            subscription.close()

    async def targets(self, recipe: str) -> list[dict[str, str]]:
        """The targets workers seen lately build ``recipe`` for (distinct)."""
        now = self._clock()
        found: list[dict[str, str]] = []
        for data in await self._io(lambda: list(self._builders.all())):
            with contextlib.suppress(ValidationError):
                builder = Builder.model_validate(data)
                if now - builder.seen_at > BUILDER_FORGOTTEN:
                    await self._io(self._builders.delete, builder.worker)
                    continue
                target = builder.offers.get(recipe)
                if now - builder.seen_at < BUILDER_SEEN and target is not None and target not in found:
                    found.append(target)
        return found

    # -- workers ------------------------------------------------------------------------------

    async def claim(self, worker: str, offers: dict[str, dict[str, str]], wait: float,
                    keys: frozenset[str] | None = None) -> Claim | None:
        """A build this worker can run (one of ``keys``, when given), leased to it; None when none
        came within ``wait`` seconds."""
        await self._io(self._builders.put, worker, Builder(worker=worker, offers=offers,
                                                            seen_at=self._clock()).model_dump(mode="json"))
        deadline = time.monotonic() + wait
        while True:
            for record in await self.records():
                if record.state == "failed" or offers.get(record.manifest.recipe.name) != record.manifest.target:
                    continue
                if keys is not None and record.key not in keys:
                    continue
                claim = await self._take(worker, record)
                if claim is not None:
                    return claim
            if time.monotonic() >= deadline or self._stopping:
                return None
            await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    async def _take(self, worker: str, record: BuildRecord) -> Claim | None:
        key = Digest(record.key)
        if await self.artifacts.get(key) is not None:
            await self._io(self._records.delete, record.key)
            return None
        try:
            lease = await self._coordinator.try_lead(lease_key(record.key), self.lease_ttl)
        except CoordinationUnavailable:
            return None  # without the coordinator no build may start: it could run twice
        if lease is None:
            return None
        if await self.artifacts.get(key) is not None:  # stored just before we took the lease
            await self._release(lease)
            await self._io(self._records.delete, record.key)
            return None
        current: BuildRecord | None = await self._io(self._read, record.key)
        if current is None or current.state == "failed":
            await self._release(lease)
            return None
        started = current.model_copy(update={"state": "building", "worker": worker, "token": lease.token,
                                             "started_at": self._clock(), "attempts": current.attempts + 1})
        await self._io(self._put, started)
        self._metrics.builds_started.labels(current.manifest.recipe.name).inc()
        await self._publish(record.key, FillEvent("progress", lease.token))
        return Claim(key=record.key, token=lease.token, ttl=self.lease_ttl, manifest=current.manifest,
                     names=current.names)

    async def renew(self, key: Digest, token: int) -> bool:
        """Extend a worker's lease (and its presence: a worker busy building offers what it did);
        False when another worker holds the build now."""
        if not await self._coordinator.renew(self._lease(key.hex, token)):
            return False
        record: BuildRecord | None = await self._io(self._read, key.hex)
        if record is not None and record.worker is not None:
            await self._io(self._seen, record.worker)
        return True

    def _seen(self, worker: str) -> None:
        path = self._builders.layout.control("builders", worker)
        try:
            builder = Builder.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return
        self._builders.put(worker, builder.model_copy(update={"seen_at": self._clock()}).model_dump(mode="json"))

    async def fail(self, key: Digest, token: int, error: str, log_tail: str) -> bool:
        """Record the failure for every waiter (if ``token`` still holds the build)."""
        if not await self._coordinator.renew(self._lease(key.hex, token)):
            return False
        record: BuildRecord | None = await self._io(self._read, key.hex)
        if record is not None:
            failed = record.model_copy(update={"state": "failed", "error": error[:2000],
                                               "log_tail": log_tail[-LOG_TAIL:], "finished_at": self._clock()})
            await self._io(self._put, failed)
            self._count_end(record, "failed")
        await self._publish(key.hex, FillEvent("failed", token, error=error[:2000]))
        await self._release(self._lease(key.hex, token))
        return True

    async def stored(self, artifact: Artifact) -> None:
        """An artifact was uploaded: its build (if any) is over; wake the waiters, free the lease."""
        key = artifact.key.hex
        record: BuildRecord | None = await self._io(self._read, key)
        await self._io(self._records.delete, key)
        if record is not None and record.token is not None:
            await self._release(self._lease(key, record.token))
            self._count_end(record, "succeeded")
        await self._publish(key, FillEvent("done", record.token if record and record.token else 0))

    def _count_end(self, record: BuildRecord, result: Literal["succeeded", "failed"]) -> None:
        recipe = record.manifest.recipe.name
        (self._metrics.builds_succeeded if result == "succeeded" else self._metrics.builds_failed).labels(recipe).inc()
        if record.started_at is not None:
            self._metrics.build_duration.labels(recipe, result).observe(max(0.0, self._clock() - record.started_at))

    def _lease(self, key: str, token: int) -> Lease:
        return Lease(lease_key(key), token, self._coordinator.node, self.lease_ttl)

    async def _release(self, lease: Lease) -> None:
        with contextlib.suppress(CoordinationUnavailable):
            await self._coordinator.release(lease, keep_record=False)

    async def _publish(self, key: str, event: FillEvent) -> None:
        with contextlib.suppress(CoordinationUnavailable):
            await self._coordinator.publish(channel(key), event)


def lease_key(key: str) -> str:
    return f"build:{key}"


def channel(key: str) -> str:
    return f"build:{key}"


def ready(artifact: Artifact) -> BuildView:
    return BuildView(key=artifact.key.hex, state="ready", manifest=artifact.manifest, artifact=artifact.to_json())


def view(record: BuildRecord) -> BuildView:
    return BuildView(key=record.key, state=record.state, manifest=record.manifest, worker=record.worker,
                     attempts=record.attempts, error=record.error, log_tail=record.log_tail)


async def artifact_status(store: ArtifactStore, builds: Builds, limit: int = 50) -> dict[str, Any]:
    """The ``artifacts`` part of ``/v1/status``: what is stored (newest first) and what is being built
    (a build waiting for a worker that no live worker offers its target is ``no_worker``)."""
    stored = await store.find()
    records = await builds.records()
    known: dict[str, list[dict[str, str]]] = {}  # the builders' records are read once per recipe
    return {"count": len(stored), "bytes": sum(a.entry.size for a in stored),
            "stored": [a.to_json() for a in sorted(stored, key=lambda a: -a.entry.fetched_at)[:limit]],
            "builds": [(await builds.staffed(view(r), known)).model_dump(mode="json", exclude={"artifact"})
                       for r in records[:limit]]}  # a build no live worker offers: no_worker, as the API says
