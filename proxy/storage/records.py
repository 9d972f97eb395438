"""Control records on the cache volume (pins, watches): small JSON files written whole.

Each record is written to ``tmp/<node-id>/`` and renamed into place after fsync, like an index
record, so a reader (another node, ``modelmanager ls --pinned``) sees the old record or the new
one, never half of either. Synchronous; async callers use an executor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from proxy.storage.atomic import write_json
from proxy.storage.layout import Layout


class RecordStore:
    def __init__(self, layout: Layout, node_id: str, kind: str) -> None:
        self.layout = layout
        self.node_id = node_id
        self.kind = kind
        self.directory = layout.control(kind, "").parent

    def put(self, record_id: str, data: dict[str, Any]) -> None:
        write_json(self.layout.control(self.kind, record_id), self.layout.tmp(self.node_id), {"id": record_id, **data})

    def delete(self, record_id: str) -> bool:
        try:
            self.layout.control(self.kind, record_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def all(self) -> Iterator[dict[str, Any]]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            data = _load(path)
            if data is not None:
                yield data


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # vanished or unreadable: not a record
    return data if isinstance(data, dict) else None
