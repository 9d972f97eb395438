"""cold-fill: one cold file through the proxy with ``--fill-connections 1`` and ``N`` (a segmented
fill), from an unthrottled upstream and from one throttled per connection (as CDNs and S3 are)."""

from __future__ import annotations

from bench.clients import Timed
from bench.files import read_through
from bench.proxy_proc import ProxyOptions
from bench.report import Row, mb
from bench.scenarios.env import FILL_FILE, Emit, Env, size_label, verify_index

CONNECTIONS = (1, 8)


def cold_fill(env: Env, emit: Emit) -> None:
    f = env.files[FILL_FILE]
    rate = env.sizes.fill_rate
    throttled = f"upstream throttled to {rate / 1e6:.0f} MB/s per connection"
    origins = (("unthrottled upstream", env.upstream.url(f.name)), (throttled, env.upstream.url(f.name, rate)))
    for origin, url in origins:
        times: dict[int, float] = {}
        for connections in CONNECTIONS:
            read_through(f.path)
            options = ProxyOptions(extra=("--fill-connections", str(connections)))
            with env.proxy(options, f"cold-fill-{connections}") as proxy:
                before = env.upstream.counter(url)
                timed, _ = env.pull([proxy.fetch_url(url)])
                after = env.upstream.counter(url)
                t = _exact(timed[0], f.blake3, f"cold-fill {origin} x{connections}")
                indexed = verify_index(proxy, [f])
                env.check_log(proxy, f"cold-fill x{connections}")
            times[connections] = t.done
            emit(Row(
                "cold-fill",
                f"one cold {size_label(f.size)} file, {origin}, --fill-connections {connections}",
                f"{t.done:.2f} s = {mb(f.size / t.done)} MB/s",
                f"first byte {t.first_byte * 1000:.0f} ms; max stall {t.max_gap:.3f} s",
                f"upstream GETs {after.gets - before.gets}, upstream bytes {(after.bytes - before.bytes) / f.size:.2f}"
                f" x file; indexed {indexed}/1; body blake3 ok",
            ))
        one, many = times[CONNECTIONS[0]], times[CONNECTIONS[-1]]
        emit(Row("cold-fill", f"{origin}: {CONNECTIONS[-1]} connections vs 1", f"{one / many:.2f} x faster",
                 f"{one:.2f} s -> {many:.2f} s", "target >= 6x when throttled per connection"))


def _exact(t: Timed, blake3: str, what: str) -> Timed:
    if t.error or t.blake3 != blake3:
        raise RuntimeError(f"{what}: not byte-exact: {t}")
    return t
