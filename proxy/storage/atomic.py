"""Small records written whole or not at all: a temp file in this node's ``tmp/`` (same
filesystem), fsync, rename over the target, fsync the directory. Readers never see half a record,
and a crash leaves at most a temp file that start-up sweeps."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from proxy.storage.writer import fsync_dir


def write_json(path: Path, tmp_dir: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"record-{secrets.token_hex(8)}"
    try:
        with open(tmp, "xb") as f:
            f.write(json.dumps(data, separators=(",", ":")).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
