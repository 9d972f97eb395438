"""What the client raises. Every error names the file and the reason; nothing is left half-written."""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the client raises."""


class AccessDenied(ClientError):
    """The proxy (or the Hub / bucket behind it) refused: 401 or 403 (a gated or private file, a bad token)."""


class NotFound(ClientError):
    """No such repo, revision, file, key or URL (404)."""


class ProxyUnavailable(ClientError):
    """The proxy could not be reached or answered 5xx, and no local copy was usable."""


class Offline(ProxyUnavailable):
    """HF offline mode (``HF_HUB_OFFLINE``): the proxy was not asked; the node tier did not hold it."""


class IntegrityError(ClientError):
    """Bytes did not match the size or digest they were announced with."""
