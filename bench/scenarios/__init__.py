"""The scenarios. Each takes the run's environment and emits rows (printed at once, tabled at the end).

* ``warm``     warm-hit (one client) and warm-many (concurrent clients) on a cached file
* ``cold``     cold-miss (time to first byte, throttled upstream) and cold-rss (concurrent cold streams)
* ``fill``     cold-fill: one cold file with --fill-connections 1 vs 8, unthrottled and throttled per connection
* ``receive``  fill-receive: the event loop's CPU per GB received, aiohttp's chunks vs a taken-over connection
* ``herd``     many clients on one cold file, and each server's RSS meanwhile
* ``cluster``  the herd spread over several pods sharing a volume and Redis
* ``hf``       snapshot_download of a 50-file repo from the Hub emulator
* ``abuse``    normal clients' latency while hundreds of slow or half-open connections are held
* ``client``   the client library: client-load (load_safetensors vs load_file) and client-snapshot
* ``ucx``      the UCX sidecar (ucxx, NIXL) vs HTTP and path hand-off, one warm blob into host memory
* ``artifacts`` time to a ready model on a second node with and without the stored derived artifact
* ``env``      what they share: sizes, the environment (starting references), checks
"""

from __future__ import annotations

from collections.abc import Callable

from bench.scenarios.abuse import abuse
from bench.scenarios.artifacts import artifacts
from bench.scenarios.client import client_load, client_snapshot
from bench.scenarios.cluster import cluster_herd
from bench.scenarios.cold import cold_miss, cold_rss
from bench.scenarios.env import FULL, QUICK, SMOKE, Emit, Env, Sizes, file_specs
from bench.scenarios.fill import cold_fill
from bench.scenarios.herd import herd
from bench.scenarios.hf import hf_snapshot
from bench.scenarios.receive import fill_receive
from bench.scenarios.ucx import ucx
from bench.scenarios.warm import warm_hit, warm_many

SCENARIOS: dict[str, Callable[[Env, Emit], None]] = {
    "warm-hit": warm_hit,
    "warm-many": warm_many,
    "cold-miss": cold_miss,
    "cold-fill": cold_fill,
    "fill-receive": fill_receive,
    "herd": herd,
    "cluster-herd": cluster_herd,
    "hf-snapshot": hf_snapshot,
    "cold-rss": cold_rss,
    "abuse": abuse,
    "client-load": client_load,
    "client-snapshot": client_snapshot,
    "ucx": ucx,
    "artifacts": artifacts,
}

__all__ = ["FULL", "QUICK", "SCENARIOS", "SMOKE", "Emit", "Env", "Sizes", "file_specs"]
