"""What every scenario shares: the sizes of a run, its environment, and checks of what came back."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.clients import CurlResult, Timed, timed_many
from bench.files import GiB, MiB, TestFile
from bench.nginx import NginxProcess, ensure_nginx
from bench.olah import ensure_olah
from bench.profile import Profile
from bench.proxy_proc import ProxyOptions, ProxyProcess
from bench.report import Row
from bench.spread import pull_spread
from bench.upstream import Upstream

Emit = Callable[[Row], None]


@dataclass(frozen=True, slots=True)
class Sizes:
    big: int
    """warm-hit's, warm-many's and cold-miss's file, and each of cold-rss's files."""
    herd: int
    herd_clients: int = 64
    herd_rate: float = 200e6
    """Bytes per second of the throttled upstream (cold-miss, herd, cluster-herd)."""
    warm_clients: int = 32
    cluster_clients: int = 48
    cluster_pods: int = 3
    cold_streams: int = 8
    snapshot_files: int = 50
    snapshot_lfs: int = 10
    """How many of the snapshot repo's files are LFS weights (the rest are small text files)."""
    snapshot_lfs_size: int = 32 * MiB
    runs: int = 3
    fill_rate: float = 50e6
    """cold-fill's per-connection upstream throttle, bytes per second."""
    artifact_blocks: int = 1500
    """Blocks of the artifacts scenario's ONNX model (hidden size 64: graph optimization dominates)."""


FULL = Sizes(big=GiB, herd=GiB)
QUICK = Sizes(big=256 * MiB, herd=64 * MiB, snapshot_lfs_size=4 * MiB, runs=2, artifact_blocks=800)
SMOKE = Sizes(
    big=8 * MiB,
    herd=8 * MiB,
    herd_clients=8,
    warm_clients=4,
    cluster_clients=6,
    cold_streams=2,
    snapshot_files=6,
    snapshot_lfs=2,
    snapshot_lfs_size=MiB,
    runs=1,
    artifact_blocks=8,
)
"""For the harness's own test: every scenario end to end in seconds (the numbers mean nothing)."""


class Unavailable(Exception):
    """A reference (nginx, olah, cluster mode) cannot run here; its rows say so and why."""


@dataclass
class Env:
    workdir: Path
    files: dict[str, TestFile]
    upstream: Upstream
    sizes: Sizes
    notes: list[str] = field(default_factory=list)
    install: bool = True
    """Install missing references (nginx from Debian's packages, olah into its own venv)."""
    profile_dir: Path | None = None
    """Record the proxy with py-spy where a scenario asks for it, into this directory."""
    workers: tuple[int, ...] = (1,)
    """``--workers`` values warm-many and herd run the proxy with (a sweep: one row each)."""
    client_procs: int = 1
    """Processes the herd's clients are spread over (1: one aiohttp process, as before)."""
    _nginx: tuple[str | None, str] | None = None
    _olah: tuple[Path | None, str] | None = None

    def proxy(self, options: ProxyOptions, name: str) -> ProxyProcess:
        return ProxyProcess(self.workdir, options, name)

    def pull(self, urls: Sequence[str]) -> tuple[list[Timed], float]:
        """Concurrent timed downloads: one aiohttp process, or ``client_procs`` processes of threads."""
        if self.client_procs > 1:
            return pull_spread(urls, self.client_procs)
        return timed_many(urls)

    def nginx(self, sliced: bool, name: str = "nginx") -> NginxProcess:
        """nginx in front of the bench upstream (raises Unavailable if it is not installed and cannot be)."""
        if self._nginx is None:
            self._nginx = ensure_nginx(self.install)
        binary, why = self._nginx
        if binary is None:
            raise Unavailable(why)
        return NginxProcess(binary, self.workdir, self.upstream.base, sliced, name)

    def olah_cli(self) -> Path:
        """olah's ``olah-cli`` from its own venv (raises Unavailable if it is not there and cannot be)."""
        if self._olah is None:
            self._olah = ensure_olah(self.install)
        cli, why = self._olah
        if cli is None:
            raise Unavailable(why)
        return cli

    @contextlib.contextmanager
    def profiled(self, pid: int, name: str) -> Iterator[None]:
        """py-spy on ``pid`` while the block runs (with ``--profile``); its summary becomes a note."""
        if self.profile_dir is None:
            yield
            return
        with Profile(pid, self.profile_dir, name) as profile:
            yield
        self.notes.append(f"profile of {name} ({profile.output}): {profile.summary()}")

    def check_log(self, proxy: ProxyProcess, label: str) -> None:
        """Any line the proxy logged at warning level or above becomes a note."""
        lines = [line for line in proxy.log_text().splitlines() if line.strip()]
        if lines:
            self.notes.append(
                f"{label}: the proxy logged {len(lines)} line(s) at warning or above; first: `{lines[0][:300]}`"
            )

    def check_nginx(self, nginx: NginxProcess, label: str) -> None:
        lines = nginx.errors()
        if lines:
            self.notes.append(f"{label}: nginx logged {len(lines)} warning/error line(s); first: `{lines[0][:300]}`")


def big_name(i: int) -> str:
    return f"big-{i}"


HERD_FILE = "herd-0"
CLUSTER_FILE = "herd-1"
COLD_FILE = "cold-0"
FILL_FILE = "fill-0"
ABUSE_FILE = "small-0"
ABUSE_SIZE = 1 << 20


def file_specs(sizes: Sizes, scenarios: Sequence[str]) -> list[tuple[str, int]]:
    """The files the chosen scenarios need (warm-hit and warm-many reuse cold-rss's first file)."""
    names: dict[str, int] = {}
    if {"warm-hit", "warm-many"} & set(scenarios):
        names[big_name(0)] = sizes.big
    if "cold-rss" in scenarios:
        names.update({big_name(i): sizes.big for i in range(sizes.cold_streams)})
    if "cold-miss" in scenarios:
        names[COLD_FILE] = sizes.big
    if "cold-fill" in scenarios or "fill-receive" in scenarios:
        names[FILL_FILE] = max(sizes.big, 64 * MiB)  # large enough to be segmented, even at --smoke
    if "herd" in scenarios:
        names[HERD_FILE] = sizes.herd
    if "cluster-herd" in scenarios:
        names[CLUSTER_FILE] = sizes.herd
    if "abuse" in scenarios:
        names[ABUSE_FILE] = ABUSE_SIZE
    return list(names.items())


def size_label(n: int) -> str:
    return f"{n // GiB} GiB" if n % GiB == 0 else f"{n // MiB} MiB"


def checked(result: CurlResult, size: int, x_cache: str | None, what: str) -> CurlResult:
    if result.status != 200 or result.size != size:
        raise RuntimeError(f"{what}: status {result.status}, {result.size} of {size} bytes")
    if x_cache is not None and result.x_cache != x_cache:
        raise RuntimeError(f"{what}: X-Cache is {result.x_cache!r}, expected {x_cache!r}")
    return result


def blob_path(proxy: ProxyProcess, digest_hex: str) -> Path:
    return proxy.cache_dir / "blobs" / digest_hex[:2] / digest_hex


def verify_index(proxy: ProxyProcess, files: Sequence[TestFile]) -> int:
    """How many of ``files`` the proxy's index holds with the right blake3 digest and size."""
    entries = {e["digest"]: e for e in proxy.entries()}
    return sum(1 for f in files if (e := entries.get(f"blake3:{f.blake3}")) is not None and e["size"] == f.size)


def skipped(scenario: str, variant: str, why: str) -> Row:
    return Row(scenario, variant, "skipped", "", why)
