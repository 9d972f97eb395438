"""olah, the open-source Hugging Face mirror, as the reference for the HF scenarios.

Installed from PyPI into its own venv (``.bench-cache/olah-venv``, kept between runs) so that its
dependencies never meet ours. olah reads its upstream from ``--hf-scheme``, ``--hf-netloc`` and
``--hf-lfs-netloc`` (olah/configs.py: ``hf_url_base()`` and ``hf_lfs_url_base()`` build every
upstream URL from them), so it can be pointed at the Hub emulator and its CDN on loopback.
``--mirror-netloc`` must name olah's own address: it rewrites redirects and links to it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.process import ChildProcess, Server, free_port
from bench.report import REPO

VENV = REPO / ".bench-cache" / "olah-venv"
PACKAGE = "olah"


def ensure_olah(install: bool) -> tuple[Path | None, str]:
    """``olah-cli`` in its venv, installing it when allowed. Returns (path or None, why it is missing)."""
    cli = VENV / "bin" / "olah-cli"
    if cli.exists() or not install:
        return (cli, "") if cli.exists() else (None, f"olah is not installed in {VENV} (and --no-install was given)")
    print(f"   olah not found: pip install {PACKAGE} into {VENV.relative_to(REPO)}", flush=True)
    steps = [[sys.executable, "-m", "venv", str(VENV)], [str(VENV / "bin" / "pip"), "install", "-q", PACKAGE]]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
            return None, f"olah could not be installed (`{' '.join(argv[-3:])}` exited {done.returncode}: {tail})"
    return (cli, "") if cli.exists() else (None, f"pip installed {PACKAGE} but {cli} is missing")


def olah_version() -> str:
    found = sorted(VENV.glob("lib/python*/site-packages/olah-*.dist-info"))
    return found[-1].name.removeprefix("olah-").removesuffix(".dist-info") if found else "not installed"


class OlahProcess(Server):
    """olah serving the Hub emulator at ``hub`` (host:port) with LFS from ``cdn`` (host:port)."""

    def __init__(self, cli: Path, workdir: Path, hub: str, cdn: str) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="olah-", dir=workdir))
        netloc = f"127.0.0.1:{self.port}"
        argv = [
            str(cli),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--hf-scheme",
            "http",
            "--hf-netloc",
            hub,
            "--hf-lfs-netloc",
            cdn,
            "--mirror-netloc",
            netloc,
            "--mirror-lfs-netloc",
            netloc,
            "--repos-path",
            str(self.root / "repos"),
            "--log-path",
            str(self.root / "logs"),
        ]
        self.owned = self.root
        self._launch(ChildProcess("olah", argv, workdir / f"olah-{self.port}.log"),
                     f"{self.endpoint}/api/models?limit=1", timeout=60, any_status=True)
