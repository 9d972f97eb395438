"""``DownloadInfo``: what to fetch (provider, repo or bucket or URL, file, revision) and from which proxy."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

URL_ENV = "MODELMANAGER_URL"
DEFAULT_PORT = 8080


class Provider(Enum):
    HF = "HuggingFace"
    S3 = "S3"
    GCS = "GCS"
    AZURE = "Azure"
    HTTP = "HTTP"

    @classmethod
    def parse(cls, text: str | Provider) -> Provider:
        """``HuggingFace`` / ``huggingface`` / ``hf``, ``S3``, ``GCS`` / ``gs``, ``Azure`` / ``az``,
        ``HTTP`` (any case)."""
        if isinstance(text, Provider):
            return text
        name = text.strip().lower()
        for provider, aliases in _ALIASES.items():
            if name in aliases:
                return provider
        raise ValueError(f"unknown provider {text!r}: HuggingFace, S3, GCS, Azure or HTTP")


_ALIASES = {Provider.HF: ("huggingface", "hf", "hub"), Provider.S3: ("s3",), Provider.GCS: ("gcs", "gs", "google"),
            Provider.AZURE: ("azure", "az"), Provider.HTTP: ("http", "https")}
STORE_SCHEMES = {Provider.S3: "s3", Provider.GCS: "gs", Provider.AZURE: "az"}
"""The URL scheme of each object-store provider (its files live under that folder of the file tree)."""


def proxy_base(host: str | None) -> str:
    """The proxy's base URL: ``host``, else ``$MODELMANAGER_URL``; a bare name means ``http://name:8080``."""
    text = host or os.environ.get(URL_ENV, "")
    if not text:
        raise ValueError(f"no proxy: pass DownloadInfo(host=...) or set {URL_ENV}")
    if "://" not in text:
        text = f"http://{text}" if ":" in text else f"http://{text}:{DEFAULT_PORT}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a proxy URL: {text!r}")
    return text.rstrip("/")


@dataclass(frozen=True)
class DownloadInfo:
    """One file (``filename``) or a whole repo / prefix (``filename=None``) through the proxy.

    HuggingFace: ``repo_id`` is ``org/name``, ``revision`` a branch, tag or commit. S3 and GCS:
    ``repo_id`` is ``bucket/prefix`` and ``filename`` the key below it; Azure: ``account/container/
    prefix``. HTTP: ``repo_id`` is the URL (any URL the proxy's ``/v1/fetch`` serves: http(s)://,
    gs://, az://).
    """

    repo_id: str
    filename: str | None = None
    revision: str = "main"
    repo_type: str = "model"
    provider: str | Provider = "HuggingFace"
    host: str | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> Provider:
        return Provider.parse(self.provider)

    @property
    def base(self) -> str:
        return proxy_base(self.host)

    @property
    def bearer(self) -> str | None:
        """The HF token: ``token``, else ``HF_TOKEN`` (as huggingface_hub reads it)."""
        return self.token or os.environ.get("HF_TOKEN") or None

    @property
    def offline(self) -> bool:
        """``HF_HUB_OFFLINE`` is set (``1``/``true``/``yes``/``on``, as huggingface_hub reads it) and
        this is a Hugging Face file or repo: nothing is asked of the proxy, only the node tier's
        copies (and snapshot listings) are used."""
        return self.kind is Provider.HF and os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}

    def with_file(self, filename: str) -> DownloadInfo:
        return DownloadInfo(self.repo_id, filename, self.revision, self.repo_type, self.provider, self.host,
                            self.token)

    def s3_location(self) -> tuple[str, str]:
        """(bucket, prefix) of an S3 ``repo_id``; the prefix has no leading or trailing slash."""
        bucket, _, prefix = self.repo_id.strip("/").partition("/")
        if not bucket:
            raise ValueError(f"S3 repo_id must be bucket/prefix: {self.repo_id!r}")
        return bucket, prefix.strip("/")

    def s3_key(self) -> tuple[str, str]:
        """(bucket, key) of the S3 file."""
        bucket, prefix = self.s3_location()
        if not self.filename:
            raise ValueError("an S3 download needs filename (the key below repo_id's prefix)")
        name = self.filename.lstrip("/")
        return bucket, f"{prefix}/{name}" if prefix else name

    def store_url(self) -> str:
        """The file as an object-store URL: ``s3://bucket/key``, ``gs://bucket/key``,
        ``az://account/container/key``."""
        bucket, key = self.s3_key()
        return f"{STORE_SCHEMES[self.kind]}://{bucket}/{key}"

    def key(self) -> str:
        """The file's identity for the node tier's references (provider, repo, revision, path)."""
        return f"{self.kind.name}:{self.repo_type}:{self.repo_id}@{self.revision}/{self.filename or ''}"
