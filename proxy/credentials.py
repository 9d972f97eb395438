"""The proxy's own secrets: the control API's admin token and the cluster secret of the internal
endpoint. Each comes from its setting; when that is unset, from a file on the cache volume that
the first pod to start generates (``Layout.secret``): 32 random bytes, URL-safe, mode 0600,
published with ``link(2)`` so that pods starting together on a shared volume agree on one value.

Reading never creates anything (the CLI uses ``read_secret``); only ``modelmanager serve`` does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

from proxy.config import Settings
from proxy.storage.layout import Layout

log = logging.getLogger(__name__)

ADMIN_TOKEN = "admin-token"
CLUSTER_SECRET = "cluster-secret"


def read_secret(cache_dir: Path, name: str) -> str | None:
    """The generated secret ``name`` in ``cache_dir``, or None when there is none (or it cannot be read)."""
    try:
        text = Layout(cache_dir).secret(name).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def ensure_secret(layout: Layout, node_id: str, name: str) -> str:
    """The generated secret ``name``, generating it first if no pod has yet."""
    path = layout.secret(name)
    found = read_secret(layout.root, name)
    if found is not None:
        _warn_if_readable(path)
        return found
    tmp_dir = layout.tmp(node_id)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"secret-{secrets.token_hex(8)}"
    value = secrets.token_urlsafe(32)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another pod was first: its value wins
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    found = read_secret(layout.root, name)
    if found is None:
        raise OSError(f"cannot read back {path}")
    if found == value:
        log.info("generated a secret on the cache volume", extra={"path": str(path)})
    return found


def admin_token(settings: Settings) -> str | None:
    """The token the control API and /v1/status require; None only with --insecure-no-auth."""
    if settings.insecure_no_auth:
        return None
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    return ensure_secret(Layout(settings.cache_dir), settings.node_id, ADMIN_TOKEN)


def cluster_secret(settings: Settings) -> str:
    """The secret pods present to each other on the internal endpoint."""
    if settings.cluster_secret is not None:
        return settings.cluster_secret.get_secret_value()
    return ensure_secret(Layout(settings.cache_dir), settings.node_id, CLUSTER_SECRET)


def _warn_if_readable(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("a generated secret is readable by other users: chmod 600 it", extra={"path": str(path)})
