"""Where downloaded files end up outside the HF layout, and how they get there without a second
copy: hard links from the node tier (a copy only across filesystems), atomic replacement.

Non-HF files without ``local_dir`` go under ``<cache_dir>/s3/<bucket>/<key>`` and
``<cache_dir>/http/<host>/<path>`` (``cache_dir`` defaults to the node tier's ``files/``).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s inode (or a copy of its bytes across filesystems), atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        os.link(source, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def replace_symlink(points_to: str, link: Path) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{os.urandom(4).hex()}.lnk")
    os.symlink(points_to, tmp)
    os.replace(tmp, link)


def safe_relative(path: str) -> PurePosixPath:
    """A repo / bucket path as a relative path that cannot leave its folder."""
    relative = PurePosixPath(path.lstrip("/"))
    if not relative.parts or ".." in relative.parts:
        raise ValueError(f"refusing path {path!r}")
    return relative


def s3_place(root: Path, bucket: str, key: str, scheme: str = "s3") -> Path:
    """An object-store file: ``<root>/<scheme>/<bucket>/<key>`` (scheme s3, gs or az)."""
    return root / scheme / safe_relative(bucket) / safe_relative(key)


def s3_folder(root: Path, bucket: str, prefix: str, scheme: str = "s3") -> Path:
    folder = root / scheme / safe_relative(bucket)
    return folder / safe_relative(prefix) if prefix else folder


def http_place(root: Path, url: str) -> Path:
    parts = urlsplit(url)
    name = unquote(parts.path).strip("/") or "index"
    return root / "http" / safe_relative(parts.netloc.replace(":", "_")) / safe_relative(name)
