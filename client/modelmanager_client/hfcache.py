"""The Hugging Face cache layout, written the way ``huggingface_hub`` writes it, so that
``hf_hub_download(..., local_files_only=True)``, ``snapshot_download`` and ``from_pretrained`` with
``HF_HUB_OFFLINE=1`` find our files::

    <cache_dir>/models--org--name/          (datasets--…, spaces--…)
      blobs/<etag>                          the bytes; etag = LFS sha256, or the git blob id
      snapshots/<commit>/<path>             relative symlink to ../../blobs/<etag>
      refs/<revision>                       the commit a branch or tag pointed at

Reference: https://huggingface.co/docs/huggingface_hub/guides/manage-cache
"""

from __future__ import annotations

import os
from pathlib import Path

from modelmanager_client.places import link_or_copy, replace_symlink, safe_relative

CACHE_ENVS = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")


def default_cache_dir() -> Path:
    """What huggingface_hub uses: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    for name in CACHE_ENVS:
        if value := os.environ.get(name):
            return Path(value).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def repo_folder(cache_dir: Path, repo_type: str, repo_id: str) -> Path:
    return cache_dir / _name(f"{repo_type}s--{repo_id.replace('/', '--')}")


def blob(cache_dir: Path, repo_type: str, repo_id: str, etag: str) -> Path:
    return repo_folder(cache_dir, repo_type, repo_id) / "blobs" / _name(etag)


def place(cache_dir: Path, repo_type: str, repo_id: str, commit: str, path: str, etag: str,
          source: Path | None) -> Path:
    """Put ``source`` in as the blob ``etag`` (hard link, else copy; kept if already there) and link
    ``snapshots/<commit>/<path>`` to it. Returns the snapshot path."""
    folder = repo_folder(cache_dir, repo_type, repo_id)
    target = folder / "blobs" / _name(etag)
    if source is not None and not target.exists():
        link_or_copy(source, target)
    pointer = folder / "snapshots" / _name(commit) / safe_relative(path)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    replace_symlink(os.path.relpath(target, pointer.parent), pointer)
    return pointer


def _name(text: str) -> str:
    """A single path component named by the server (a commit, an etag): nothing that can leave its folder."""
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise ValueError(f"refusing name {text!r} from the proxy")
    return text


def has_blob(cache_dir: Path, repo_type: str, repo_id: str, etag: str, size: int) -> bool:
    try:
        return blob(cache_dir, repo_type, repo_id, etag).stat().st_size == size
    except FileNotFoundError:
        return False


def write_ref(cache_dir: Path, repo_type: str, repo_id: str, revision: str, commit: str) -> None:
    """``refs/<revision>`` = commit (nothing for a revision that is the commit itself)."""
    if revision == commit:
        return
    ref = repo_folder(cache_dir, repo_type, repo_id) / "refs" / safe_relative(revision)
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f".{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def read_ref(cache_dir: Path, repo_type: str, repo_id: str, revision: str) -> str | None:
    try:
        return (repo_folder(cache_dir, repo_type, repo_id) / "refs" / revision).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
