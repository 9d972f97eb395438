"""One ``modelmanager_snapshot``, timed: ``python -m bench.mm_snapshot PROXY REPO OUT``.

The counterpart of ``bench.hf_client`` for the client library: a fresh interpreter (the import is
not timed), the node tier ``$MODELMANAGER_CLIENT_CACHE`` as the caller set it, files into ``OUT``
(``local_dir``); prints ``{"seconds": s, "files": n, "bytes": n}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    proxy, repo_id, out = (argv or sys.argv[1:])[:3]
    from modelmanager_client import DownloadInfo, modelmanager_snapshot

    started = time.perf_counter()
    modelmanager_snapshot(DownloadInfo(repo_id, host=proxy), local_dir=out)
    seconds = time.perf_counter() - started
    files = [p for p in Path(out).rglob("*") if p.is_file()]
    print(json.dumps({"seconds": seconds, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}))


if __name__ == "__main__":
    main()
