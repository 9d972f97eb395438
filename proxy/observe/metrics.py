"""Prometheus metrics, one registry per application (tests run several apps in one process).

In a worker of ``--workers N`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before the worker
starts: prometheus-client then keeps every value in a file there, and ``render`` reports the
node's totals (every worker, dead ones' counters included); ``value`` stays this process's own.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

PREFIX = "modelmanager"
BUILD_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 7200)
"""Build durations: from seconds (a small ORT optimization) to hours (a large TensorRT engine)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(f"{PREFIX}_requests", "Object requests by adapter and cache outcome "
                                "(hit, miss, coalesced, revalidated, stale)", ["adapter", "outcome"], registry=r)
        self.upstream_bytes = Counter(f"{PREFIX}_upstream_bytes", "Body bytes received from upstreams", registry=r)
        self.upstream_resumes = Counter(f"{PREFIX}_upstream_resumes", "Upstream downloads resumed with a Range "
                                        "request after a drop", registry=r)
        self.served_bytes = Counter(f"{PREFIX}_served_bytes", "Body bytes sent to clients, by source "
                                    "(blob, fill)", ["source"], registry=r)
        self.coalesced_waiters = Counter(f"{PREFIX}_coalesced_waiters", "Requests that joined a fill another "
                                         "request started", registry=r)
        self.connections_refused = Counter(f"{PREFIX}_connections_closed_by_guard", "Client connections the "
                                           "proxy closed to protect itself: limit (refused at the cap, "
                                           "every connection busy), evicted_idle (the longest-idle one closed "
                                           "at the cap), body_timeout (a request body stalled)",
                                           ["reason"], registry=r)
        self.fills_failed = Counter(f"{PREFIX}_fills_failed", "Fills that ended in an error", registry=r)
        self.fill_duration = Histogram(f"{PREFIX}_fill_duration_seconds", "Time from fill start to commit",
                                       buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600), registry=r)
        self.leases_acquired = Counter(f"{PREFIX}_leases_acquired", "Fill leases this node acquired", registry=r)
        self.leases_lost = Counter(f"{PREFIX}_leases_lost", "Fill leases this node lost mid-fill (another node "
                                   "took the fill over)", registry=r)
        self.leases_taken_over = Counter(f"{PREFIX}_leases_taken_over", "Fills this node took over from another "
                                         "node's partial temp file", registry=r)
        self.cross_pod_followers = Counter(f"{PREFIX}_cross_pod_followers", "Fills this node followed while "
                                           "another node led them", registry=r)
        self.relayed_bytes = Counter(f"{PREFIX}_relayed_bytes", "Bytes of running fills streamed between pods "
                                     "over the internal fill endpoint, by direction (sent by the leader, "
                                     "received by a follower)", ["direction"], registry=r)
        self.memory_hits = Counter(f"{PREFIX}_memory_hits", "Hits served from this node's memory tier", registry=r)
        self.peer_hops = Counter(f"{PREFIX}_peer_hops", "Requests sent on to a peer holding the blob in memory, "
                                 "by mode (redirect, proxy)", ["mode"], registry=r)
        self.inflight_fills = Gauge(f"{PREFIX}_inflight_fills", "Fills running on this node", registry=r,
                                    multiprocess_mode="livesum")
        self.prefetch_bytes = Counter(f"{PREFIX}_prefetch_bytes", "Bytes of files prefetch jobs went through, "
                                      "by outcome (fetched: filled for the job, cached: already there)",
                                      ["outcome"], registry=r)
        self.prefetch_jobs = Counter(f"{PREFIX}_prefetch_jobs", "Prefetch jobs finished, by result "
                                     "(succeeded, failed)", ["result"], registry=r)
        self.evicted_blobs = Counter(f"{PREFIX}_evicted_blobs", "Blobs removed to stay within the disk quota",
                                     registry=r)
        self.evicted_bytes = Counter(f"{PREFIX}_evicted_bytes", "Bytes removed to stay within the disk quota",
                                     registry=r)
        self.abandoned_tmp_files = Counter(f"{PREFIX}_abandoned_tmp_files", "Temp files other nodes left on the "
                                           "cache volume (killed mid-fill, or handed over and not taken up), "
                                           "removed by eviction passes", registry=r)
        self.abandoned_tmp_bytes = Counter(f"{PREFIX}_abandoned_tmp_bytes", "Bytes of the abandoned temp files "
                                           "eviction passes removed", registry=r)
        self.cache_bytes = Gauge(f"{PREFIX}_cache_bytes", "Bytes of committed blobs on the cache volume "
                                 "(as of the last eviction pass)", registry=r,
                                 multiprocess_mode="mostrecent")
        self.version_switches = Counter(f"{PREFIX}_version_switches", "Watched URLs switched to a new, fully "
                                        "cached upstream version", ["scheme"], registry=r)
        self.watch_errors = Counter(f"{PREFIX}_watch_errors", "Watch checks that failed (upstream or prefetch "
                                    "errors); the previous version stays served", registry=r)
        self.builds_requested = Counter(f"{PREFIX}_builds_requested", "Build requests that started a new "
                                        "build record (not those that joined one, found it stored or failed)",
                                        ["recipe"], registry=r)
        self.builds_started = Counter(f"{PREFIX}_builds_started", "Builds handed to a build worker under a "
                                      "lease (a build retaken from a dead worker counts again)", ["recipe"],
                                      registry=r)
        self.builds_succeeded = Counter(f"{PREFIX}_builds_succeeded", "Builds whose output a worker uploaded",
                                        ["recipe"], registry=r)
        self.builds_failed = Counter(f"{PREFIX}_builds_failed", "Builds a worker reported as failed",
                                     ["recipe"], registry=r)
        self.build_duration = Histogram(f"{PREFIX}_build_duration_seconds", "Time from a worker's claim to the "
                                        "upload or the failure report, by recipe and result (succeeded, failed)",
                                        ["recipe", "result"], buckets=BUILD_BUCKETS, registry=r)
        self.build_waiters = Gauge(f"{PREFIX}_build_waiters", "Requests waiting on a build (?wait= on an "
                                   "artifact or a build)", registry=r, multiprocess_mode="livesum")
        self.artifacts = Gauge(f"{PREFIX}_artifacts", "Derived artifacts stored on the cache volume", registry=r,
                               multiprocess_mode="mostrecent")
        self.artifacts_bytes = Gauge(f"{PREFIX}_artifacts_bytes", "Bytes of derived artifacts stored on the "
                                     "cache volume", registry=r, multiprocess_mode="mostrecent")
        self.before_render: list[Callable[[], Awaitable[None]]] = []
        """Refreshers of gauges read at scrape time (such as the artifacts' bytes)."""

    async def refresh(self) -> None:
        for refresher in self.before_render:
            await refresher()

    def render(self) -> bytes:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return generate_latest(self.registry)
        node = CollectorRegistry()
        MultiProcessCollector(node, directory)  # type: ignore[no-untyped-call]
        return generate_latest(node)

    def value(self, name: str, **labels: str) -> float:
        """The current value of one sample; 0.0 when it has not been recorded yet."""
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else got
