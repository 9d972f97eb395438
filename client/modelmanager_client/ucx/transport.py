"""The ``ucx`` transport the client tries after path hand-off and before HTTP, when configured."""

from __future__ import annotations

import logging
from collections.abc import Callable

from modelmanager_client.ranged import RangeSource
from modelmanager_client.remote import RemoteFile
from modelmanager_client.ucx import config

log = logging.getLogger(__name__)


class UcxTransport:
    name = "ucx"

    def __init__(self, on_bytes: Callable[[int], None] | None = None) -> None:
        self.on_bytes = on_bytes

    def open(self, remote: RemoteFile) -> tuple[RangeSource | None, str]:
        settings, why = config.from_env()
        if settings is None:
            return None, why
        if remote.digest is None:
            return None, "the proxy named no blob (not cached there yet)"
        where = f"{settings.address[0]}:{settings.address[1]}"
        try:
            from modelmanager_client.ucx.source import UcxRanges

            source = UcxRanges(settings, remote.digest, remote.size, self.on_bytes)
        except ImportError as exc:
            return None, f"{settings.engine} is not installed (pip install 'modelmanager-client[ucx]'): {exc}"
        except Exception as exc:  # any sidecar failure means HTTP, never an error
            log.info("UCX sidecar not used: %s", exc)
            return None, f"sidecar {where}: {exc}"
        return source, f"{settings.engine} from sidecar {where}"
