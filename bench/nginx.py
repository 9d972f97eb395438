"""nginx as a caching reverse proxy, the reference an operator would deploy instead.

Found on PATH or in /usr/sbin, else installed from Debian's packages (``apt-get install -y
nginx-light``, then ``nginx``). It runs as a child process (``daemon off``) with a config and
temp/cache directories generated under the bench's work directory, never as the system service;
when the harness runs as root, nginx is started through ``setpriv`` as ``nobody``.

Two configurations, both with ``proxy_cache_lock on`` (one upstream fetch per cache key at a
time; waiters wait for the whole response, or for ``proxy_cache_lock_timeout``, 5 s by default,
and then fetch from the upstream themselves without caching):

* whole-file: one cache key per URL;
* slice: the ``slice`` module splits every response into 8 MiB ranges, each its own cache key
  (and its own lock), fetched from the upstream with a ``Range`` header.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.process import ChildProcess, Server, children, free_port

SLICE_MIB = 8
SLICE = SLICE_MIB << 20
"""nginx keeps the cache file of every slice of a response open until the whole response is done
(subrequests live in the main request's pool): a 1 GiB file in 1 MiB slices holds 1,024
descriptors per client, and 64 such clients exceed a 20,000 ``nofile`` limit (seen in a herd,
docs/benchmarks.md). 8 MiB slices hold 128."""
SLICE_LABEL = f"slice {SLICE_MIB}m"
LOCK_TIMEOUT = 5.0
"""nginx's default ``proxy_cache_lock_timeout`` and ``proxy_cache_lock_age``, written out."""
CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    return found or next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def ensure_nginx(install: bool) -> tuple[str | None, str]:
    """The nginx binary, installing it when allowed. Returns (path or None, why it is missing)."""
    found = find_nginx()
    if found or not install:
        return found, "" if found else "nginx is not installed (and --no-install was given)"
    if shutil.which("apt-get") is None:
        return None, "nginx is not installed and there is no apt-get to install it"
    print("   nginx not found: apt-get install -y nginx-light", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for package in ("nginx-light", "nginx"):
        done = subprocess.run(
            ["apt-get", "install", "-y", "-q", package],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode == 0 and (found := find_nginx()):
            return found, ""
    return None, (
        f"nginx could not be installed (apt-get install nginx-light / nginx exited {done.returncode}: "
        f"{done.stderr.strip().splitlines()[-1:] or done.stdout.strip().splitlines()[-1:]}); "
        "install it by hand (apt-get install nginx-light) to compare against it"
    )


def config(root: Path, port: int, upstream: str, sliced: bool) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    key = "$uri$is_args$args$slice_range" if sliced else "$uri$is_args$args"
    slicing = f"            slice {SLICE};\n            proxy_set_header Range $slice_range;\n" if sliced else ""
    return f"""\
worker_processes auto;
daemon off;
pid {root / "nginx.pid"};
error_log {root / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
    sendfile on;
    tcp_nopush on;
    proxy_cache_path {root / "cache"} levels=1:2 keys_zone=models:16m max_size=200g inactive=1d use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location /files/ {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 120s;
            proxy_cache models;
            proxy_cache_key {key};
{slicing}            proxy_cache_valid 200 206 1d;
            proxy_cache_lock on;
            proxy_cache_lock_timeout {LOCK_TIMEOUT:.0f}s;
            proxy_cache_lock_age {LOCK_TIMEOUT:.0f}s;
            add_header X-Cache $upstream_cache_status always;
        }}
        location = /healthz {{ return 200 "ok"; }}
    }}
}}
"""


class NginxProcess(Server):
    """nginx in front of ``upstream`` (the bench upstream's base URL); ``url(upstream_url)`` maps a URL."""

    def __init__(self, binary: str, workdir: Path, upstream: str, sliced: bool, name: str = "nginx") -> None:
        self.sliced = sliced
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))
        root_user = os.geteuid() == 0
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "cache"):
            (self.root / kind).mkdir()
        conf = self.root / "nginx.conf"
        conf.write_text(config(self.root, self.port, self.upstream, sliced))
        argv = [binary, "-c", str(conf), "-p", str(self.root), "-e", str(self.root / "error.log")]
        if root_user:  # run the master (and so its workers) as nobody, not as root
            subprocess.run(["chown", "-R", "nobody:nogroup", str(self.root)], check=True)
            self.root.chmod(0o755)
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
        self.owned = self.root
        self._launch(ChildProcess(name, argv, workdir / f"{name}-{self.port}.log"), f"{self.base}/healthz")


    def pids(self) -> list[int]:
        """The master and its workers (and cache manager/loader)."""
        return [self.pid, *children(self.pid)]

    def url(self, upstream_url: str) -> str:
        return self.base + upstream_url.removeprefix(self.upstream)

    def errors(self) -> list[str]:
        try:
            text = (self.root / "error.log").read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "[warn]" in line or "[error]" in line or "[crit]" in line]
