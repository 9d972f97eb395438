"""Whether and how to use the UCX sidecar, from the environment (no UCX import here).

- ``MODELMANAGER_UCX``: the sidecar's control address, ``host:port``. Unset or empty: UCX is off.
- ``MODELMANAGER_UCX_SECRET``, else the file ``MODELMANAGER_UCX_SECRET_FILE``: the cluster secret.
- ``MODELMANAGER_UCX_ENGINE``: ``ucxx`` (default) or ``nixl``.
- ``MODELMANAGER_UCX_TIMEOUT``: seconds a transfer may stall before HTTP takes over (default 30).
- ``MODELMANAGER_UCX_STREAMS``: ranges in flight at once (default 1: on shared memory one stream
  was fastest; raise it for RDMA links).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from modelmanager_client.ucx.wire import ENGINES, parse_address

ADDRESS_ENV = "MODELMANAGER_UCX"
SECRET_ENV = "MODELMANAGER_UCX_SECRET"
SECRET_FILE_ENV = "MODELMANAGER_UCX_SECRET_FILE"
ENGINE_ENV = "MODELMANAGER_UCX_ENGINE"
TIMEOUT_ENV = "MODELMANAGER_UCX_TIMEOUT"
STREAMS_ENV = "MODELMANAGER_UCX_STREAMS"


@dataclass(frozen=True, slots=True)
class UcxConfig:
    address: tuple[str, int]
    secret: str = field(repr=False)
    engine: str = "ucxx"
    timeout: float = 30.0
    streams: int = 1


def from_env() -> tuple[UcxConfig | None, str]:
    """The configuration, or None and why UCX is not used (for ``--explain``)."""
    text = os.environ.get(ADDRESS_ENV, "").strip()
    if not text:
        return None, f"off ({ADDRESS_ENV} unset)"
    try:
        address = parse_address(text)
    except ValueError as exc:
        return None, str(exc)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret and (file := os.environ.get(SECRET_FILE_ENV)):
        try:
            secret = Path(file).read_text().strip()
        except OSError as exc:
            return None, f"cannot read {SECRET_FILE_ENV}: {exc.strerror}"
    if not secret:
        return None, f"no cluster secret ({SECRET_ENV} or {SECRET_FILE_ENV})"
    engine = os.environ.get(ENGINE_ENV, "ucxx").strip().lower() or "ucxx"
    if engine not in ENGINES:
        return None, f"{ENGINE_ENV}={engine!r}: one of {', '.join(ENGINES)}"
    try:
        timeout, streams = float(os.environ.get(TIMEOUT_ENV, "30")), int(os.environ.get(STREAMS_ENV, "1"))
    except ValueError as exc:
        return None, f"{TIMEOUT_ENV} / {STREAMS_ENV}: {exc}"
    return UcxConfig(address, secret, engine, timeout, max(1, streams)), ""
