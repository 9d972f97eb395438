"""The proxy's credentials for GCS: Application Default Credentials through google-auth, or none.

``default`` asks google-auth's ADC chain (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
application-default file, the GCE/GKE metadata server: Workload Identity); a path names a
service-account key file (other credential files go through ``GOOGLE_APPLICATION_CREDENTIALS``); ``anonymous`` sends no
credentials (public buckets, emulators). google-auth is synchronous: tokens are fetched and
refreshed in a worker thread by ``proxy.tokens.RefreshingToken``, before they expire.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC
from pathlib import Path
from typing import Any

from proxy.tokens import RefreshingToken

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
ANONYMOUS = "anonymous"
DEFAULT = "default"


class GcsAuth:
    """``Authorization`` headers for GCS requests."""

    def __init__(self, source: str = DEFAULT) -> None:
        """``source``: ``default`` (ADC), ``anonymous``, or the path of a credentials JSON file."""
        self.source = source
        self._credentials: Any = None
        self._anonymous = source == ANONYMOUS
        self._guard = threading.Lock()
        self._token = RefreshingToken(self._refresh)

    @property
    def anonymous(self) -> bool:
        return self._anonymous

    async def headers(self) -> dict[str, str]:
        if self._anonymous:
            return {}
        token = await self._token.get()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _refresh(self) -> tuple[str, float | None]:
        """Blocking (a worker thread): load the credentials once, then refresh their token."""
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests
        from google.oauth2 import service_account

        with self._guard:
            if self._credentials is None:
                try:
                    if self.source == DEFAULT:
                        self._credentials, _ = google.auth.default(scopes=[SCOPE])
                    else:
                        self._credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                            str(Path(self.source).expanduser()), scopes=[SCOPE])
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    if self.source != DEFAULT:
                        raise
                    log.warning("no Application Default Credentials; GCS requests go anonymous "
                                "(public buckets only)", extra={"error": str(exc)})
                    self._anonymous = True
                    return "", None
            self._credentials.refresh(google.auth.transport.requests.Request())
            expiry = self._credentials.expiry
            return self._credentials.token, expiry.replace(tzinfo=UTC).timestamp() if expiry else None
